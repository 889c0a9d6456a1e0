"""Building a UI from source: the toolchain pins are enforced before anything is downloaded or run."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from forktool.errors import ForkError
from forktool.series import pins as pins_mod
from forktool.series.ui import build_ui, check_integrity


def test_a_ui_asking_for_another_pnpm_is_refused(workspace):
    pins = pins_mod.load(workspace.pins_file)
    ui = workspace.tree / "airflow-core/src/airflow/ui"
    package = json.loads((ui / "package.json").read_text())
    assert package["packageManager"] == f"pnpm@{pins.ui.pnpm}", "the pin follows the sdist's UI"
    package["packageManager"] = "pnpm@11.0.0"
    (ui / "package.json").write_text(json.dumps(package))
    with pytest.raises(ForkError, match=r"asks for pnpm@11\.0\.0, but upstream\.toml pins pnpm 10\.25\.0"):
        build_ui(workspace, pins.ui, "uv-is-not-run", ui)
    assert not (workspace.state / "ui").exists(), "nothing was downloaded"


def test_pnpm_tarball_is_checked_against_the_pinned_integrity():
    data = b"pnpm tarball"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    check_integrity(data, good, "pnpm.tgz")
    with pytest.raises(ForkError, match="corrupt or has been tampered with"):
        check_integrity(data + b"!", good, "pnpm.tgz")


def test_ui_pin_needs_its_dist_stripped(empty_workspace):
    text = empty_workspace.pins_file.read_text()
    empty_workspace.pins_file.write_text(text.replace('    "src/airflow/ui/dist",\n', "", 1))
    with pytest.raises(
        ForkError, match="builds the UI src/airflow/ui but does not strip src/airflow/ui/dist"
    ):
        pins_mod.load(empty_workspace.pins_file)
