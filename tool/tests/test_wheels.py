"""Custom wheels: the base-rebuild gate, local labels, and which distributions get built."""

from __future__ import annotations

import tarfile
import zipfile

from helpers import commit_sample_change

from forktool.series import pins as pins_mod
from forktool.series.git import Git
from forktool.series.tree import touched_paths
from forktool.series.wheels import (
    GeneratedPlan,
    build_series_wheels,
    generated_plan,
    touched_dists,
    verify_base,
)


def test_unpatched_base_rebuilds_byte_identical_to_pypi(workspace):
    rows = verify_base(workspace, Git(workspace.tree), pins_mod.load(workspace.pins_file))
    assert [r.dist.name for r in rows] == [
        "apache-airflow-core",
        "apache-airflow-task-sdk",
        "apache-airflow-providers-standard",
        "apache-airflow-providers-sftp",
        "apache-airflow-providers-ssh",
    ]
    assert all(r.identical for r in rows), rows


def test_series_wheels_carry_the_local_label(workspace):
    pins = pins_mod.load(workspace.pins_file)
    git = Git(workspace.tree)
    assert touched_dists(git, pins) == []
    commit_sample_change(workspace.tree)
    assert [d.name for d in touched_dists(git, pins)] == [
        "apache-airflow-task-sdk",
        "apache-airflow-providers-standard",
    ]
    built = build_series_wheels(workspace, git, pins, "acme.7")
    names = sorted(b.wheel.name for b in built)
    assert names == [
        "apache_airflow_providers_standard-1.21.0+acme.7-py3-none-any.whl",
        "apache_airflow_task_sdk-1.3.2+acme.7-py3-none-any.whl",
    ]
    sdk = next(b.wheel for b in built if "task_sdk" in b.wheel.name)
    with zipfile.ZipFile(sdk) as whl:
        assert "# sample change" in whl.read("airflow/sdk/execution_time/timeout.py").decode()
        assert '__version__ = "1.3.2+acme.7"' in whl.read("airflow/sdk/__init__.py").decode()
        assert "airflow/sdk/_shared/timezones/__init__.py" in whl.namelist()
    # Rebuilding an unchanged tree reuses the cached wheels, byte for byte.
    again = build_series_wheels(workspace, git, pins, "acme.7")
    assert [b.wheel.read_bytes() for b in again] == [b.wheel.read_bytes() for b in built]


UI = "src/airflow/ui"
SIMPLE_UI = "src/airflow/api_fastapi/auth/managers/simple/ui"


def test_generated_paths_come_from_the_sdist_unless_the_series_changes_a_ui(workspace):
    """The decision: a UI is built from source only when the series changes a file inside it."""
    core = pins_mod.load(workspace.pins_file).dist("apache-airflow-core")
    everything = GeneratedPlan((f"{UI}/dist", f"{SIMPLE_UI}/dist", "src/airflow/git_version"), ())
    assert generated_plan(core, []) == everything
    assert generated_plan(core, ["airflow-core/src/airflow/config_templates/config.yml"]) == everything
    assert generated_plan(
        core, ["task-sdk/src/airflow/sdk/ui/main.tsx", "airflow-core/src/airflow/ui.py"]
    ) == (everything)
    assert generated_plan(core, [f"airflow-core/{SIMPLE_UI}/src/login.tsx"]) == GeneratedPlan(
        (f"{UI}/dist", "src/airflow/git_version"), (SIMPLE_UI,)
    )

    # The same decision from a real commit in the tree.
    git = Git(workspace.tree)
    page = workspace.tree / "airflow-core" / UI / "src" / "main.tsx"
    page.write_text(page.read_text() + "// a UI change\n")
    git.run("commit", "-qam", "Change the UI")
    assert generated_plan(core, touched_paths(git)) == GeneratedPlan(
        (f"{SIMPLE_UI}/dist", "src/airflow/git_version"), (UI,)
    )


def test_core_wheel_carries_the_series_and_the_released_ui(workspace, downloads):
    """A config.yml change rebuilds apache-airflow-core with the label; the UI bundles are the sdist's."""
    pins = pins_mod.load(workspace.pins_file)
    git = Git(workspace.tree)
    config = workspace.tree / "airflow-core/src/airflow/config_templates/config.yml"
    config.write_text(config.read_text() + "# a sample change\n")
    git.run("commit", "-qam", "Change the configuration reference")
    assert [d.name for d in touched_dists(git, pins)] == ["apache-airflow-core"]
    [built] = build_series_wheels(workspace, git, pins, "acme.7")
    assert built.wheel.name == "apache_airflow_core-3.3.2+acme.7-py3-none-any.whl"
    with (
        zipfile.ZipFile(built.wheel) as whl,
        tarfile.open(downloads / "apache_airflow_core-3.3.2.tar.gz") as sdist,
    ):
        assert whl.read("airflow/config_templates/config.yml").decode().endswith("# a sample change\n")
        # airflow.__version__ keeps the release's: it must equal the apache-airflow meta package's version
        assert '__version__ = "3.3.2"' in whl.read("airflow/__init__.py").decode()
        assert (
            "Version: 3.3.2+acme.7"
            in whl.read("apache_airflow_core-3.3.2+acme.7.dist-info/METADATA").decode()
        )
        root = "apache_airflow_core-3.3.2/"
        for path in (f"{UI}/dist/index.html", f"{SIMPLE_UI}/dist/index.html", "src/airflow/git_version"):
            member = sdist.extractfile(root + path)
            assert member is not None
            assert whl.read(path.removeprefix("src/")) == member.read(), path
        assert not [n for n in whl.namelist() if "/ui/src/" in n or "node_modules" in n]
