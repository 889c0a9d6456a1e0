"""Custom wheels: the base-rebuild gate, local labels, and which distributions get built."""

from __future__ import annotations

import zipfile

from forktool import pins as pins_mod
from forktool.git import Git
from forktool.wheels import build_series_wheels, touched_dists, verify_base
from helpers import commit_sample_change


def test_unpatched_base_rebuilds_byte_identical_to_pypi(workspace):
    rows = verify_base(workspace, Git(workspace.tree), pins_mod.load(workspace.pins_file))
    assert [r.dist.name for r in rows] == [
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
