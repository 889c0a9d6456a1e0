"""Comparing upstream suite outcomes between the base and the patched build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from forktool.upstream_suites import Outcomes, report


def test_outcomes_plugin_records_every_kind_of_result(tmp_path: Path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert False\n"
        "@pytest.mark.skip(reason='no')\ndef test_skip(): pass\n"
        "@pytest.fixture\ndef broken(): raise RuntimeError\n"
        "def test_error(broken): pass\n"
    )
    (tmp_path / "test_broken_import.py").write_text("import does_not_exist\n")
    outcomes = tmp_path / "outcomes.jsonl"
    env = dict(os.environ, FORK_OUTCOMES=str(outcomes), PYTHONPATH=str(REPO / "tool" / "src"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "forktool.pytest_outcomes",
            "--continue-on-collection-errors",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
    )
    got = {
        json.loads(line)["nodeid"]: json.loads(line)["outcome"] for line in outcomes.read_text().splitlines()
    }
    assert got == {
        "test_sample.py::test_ok": "passed",
        "test_sample.py::test_bad": "failed",
        "test_sample.py::test_skip": "skipped",
        "test_sample.py::test_error": "error",
        "test_broken_import.py": "collection-error",
    }


def test_report_flags_base_passes_and_new_tests_that_fail_patched(capsys):
    base = Outcomes({"t::a": "passed", "t::b": "failed", "t::c": "passed", "t::d": "passed"})
    patched = Outcomes(
        {"t::a": "passed", "t::b": "failed", "t::c": "error", "t::new": "passed", "t::new_bad": "failed"}
    )
    assert report({"task-sdk": {"base": base, "patched": patched}}, known={"t::b": "environment"}) == 1
    out = capsys.readouterr().out
    assert "2 test(s) fail on the patched build that pass on the base or are new" in out
    assert "REGRESSION task-sdk: t::c (error)" in out
    assert "REGRESSION task-sdk: t::new_bad (failed)" in out, "a test the series adds must pass"
    assert "t::b" not in out.split("or are new")[1], "a known base failure is not a regression"


def test_report_names_unlisted_base_failures_and_fixes(capsys):
    base = Outcomes({"t::a": "failed", "t::b": "failed"})
    patched = Outcomes({"t::a": "passed", "t::b": "failed"})
    assert report({"sftp": {"base": base, "patched": patched}}, known={"t::a": "upstream bug"}) == 0
    out = capsys.readouterr().out
    assert "note: sftp: t::b fails on the base but is not in devel-common/known-failures.txt" in out
    assert "fixed by the series: sftp: t::a" in out
