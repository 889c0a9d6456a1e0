"""Comparing upstream suite outcomes between the base and the patched build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

from forktool.series.upstream_suites import SUITES, Outcomes, SuiteResult, report, without_workers


def run_with_outcomes_plugin(tests: Path, *options: str) -> list[dict[str, str]]:
    """Run pytest on the test files in `tests` with forktool.series.pytest_outcomes; the records it wrote."""
    outcomes = tests / "outcomes.jsonl"
    env = dict(os.environ, FORK_OUTCOMES=str(outcomes), PYTHONPATH=str(REPO / "tool" / "src"))
    plugin = ["-p", "no:cacheprovider", "-p", "forktool.series.pytest_outcomes"]
    command = [sys.executable, "-m", "pytest", "-q", *plugin, *options, str(tests)]
    subprocess.run(command, cwd=tests, env=env, capture_output=True)
    return [json.loads(line) for line in outcomes.read_text().splitlines()]


def test_outcomes_plugin_records_every_kind_of_result(tmp_path: Path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert False\n"
        "@pytest.mark.skip(reason='no')\ndef test_skip(): pass\n"
        "@pytest.mark.skipif(True, reason='Test only for Airflow 2')\ndef test_gated(): pass\n"
        "@pytest.mark.skipif(False, reason='never')\ndef test_runtime_skip(): pytest.skip('no backend')\n"
        "@pytest.fixture\ndef unavailable(): pytest.skip('Test only for Airflow 2')\n"
        "def test_fixture_skip(unavailable): pass\n"
        "@pytest.fixture\ndef broken(): raise RuntimeError\n"
        "def test_error(broken): pass\n"
    )
    (tmp_path / "test_broken_import.py").write_text("import does_not_exist\n")
    (tmp_path / "test_optional_dep.py").write_text(
        "import pytest\npytest.importorskip('does_not_exist')\ndef test_never(): pass\n"
    )
    records = run_with_outcomes_plugin(tmp_path, "--continue-on-collection-errors")
    assert {r["nodeid"]: r["outcome"] for r in records} == {
        "test_sample.py::test_ok": "passed",
        "test_sample.py::test_bad": "failed",
        "test_sample.py::test_skip": "gated",
        "test_sample.py::test_gated": "gated",
        "test_sample.py::test_runtime_skip": "skipped",
        "test_sample.py::test_fixture_skip": "skipped",
        "test_sample.py::test_error": "error",
        "test_broken_import.py": "collection-error",
        "test_optional_dep.py": "skipped",
    }
    assert {r["nodeid"]: r["reason"] for r in records if "reason" in r} == {
        "test_optional_dep.py": "could not import 'does_not_exist': No module named 'does_not_exist'",
        "test_sample.py::test_skip": "no",
        "test_sample.py::test_gated": "Test only for Airflow 2",
        "test_sample.py::test_runtime_skip": "no backend",
        "test_sample.py::test_fixture_skip": "Test only for Airflow 2",
    }


def test_outcomes_plugin_tells_gates_from_skips_under_xdist(tmp_path: Path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "@pytest.mark.skipif(True, reason='gate')\ndef test_gated(): pass\n"
        "def test_skipped(): pytest.skip('gate')\n"
    )
    (tmp_path / "test_optional_dep.py").write_text("import pytest\npytest.importorskip('does_not_exist')\n")
    records = run_with_outcomes_plugin(tmp_path, "-n", "2")
    assert {r["nodeid"]: (r["outcome"], r["reason"]) for r in records} == {
        "test_sample.py::test_gated": ("gated", "gate"),
        "test_sample.py::test_skipped": ("skipped", "gate"),
        "test_optional_dep.py": (
            "skipped",
            "could not import 'does_not_exist': No module named 'does_not_exist'",
        ),
    }


def test_pass_rate_leaves_gated_tests_out_and_report_names_other_skips(capsys):
    base = Outcomes(
        {"t::a": "passed", "t::b": "gated", "t::c": "skipped", "t::d": "skipped", "t::e": "failed"},
        reasons={"t::b": "Test only for Airflow 2", "t::c": "needs mysql", "t::d": "needs mysql"},
    )
    assert (base.collected, base.applicable) == (5, 4)
    assert base.pass_rate == 25.0
    assert base.skip_reasons("skipped") == [(2, "needs mysql")]
    report(
        {"standard": SuiteResult(Outcomes(dict(base.by_test)), base, full_base=True)}, known={"t::e": "env"}
    )
    out = capsys.readouterr().out
    assert "note: standard: 2 test(s) skipped on the base: needs mysql" in out
    assert "Test only for Airflow 2" not in out, "a gate is not reported as a skip"
    row = next(line for line in out.splitlines() if line.startswith("standard   base"))
    assert row.split() == ["standard", "base", "5", "1", "1", "1", "0", "2", "25.0%"]


def test_report_flags_base_passes_and_new_tests_that_fail_patched(capsys):
    base = Outcomes({"t::a": "passed", "t::b": "failed", "t::c": "passed", "t::d": "passed"})
    patched = Outcomes(
        {"t::a": "passed", "t::b": "failed", "t::c": "error", "t::new": "passed", "t::new_bad": "failed"}
    )
    assert (
        report({"task-sdk": SuiteResult(patched, base, full_base=True)}, known={"t::b": "environment"}) == 1
    )
    out = capsys.readouterr().out
    assert "2 test(s) fail on the patched build that pass on the base or are new" in out
    assert "REGRESSION task-sdk: t::c (error)" in out
    assert "REGRESSION task-sdk: t::new_bad (failed)" in out, "a test the series adds must pass"
    assert "t::b" not in out.split("or are new")[1], "a known base failure is not a regression"


def test_report_names_unlisted_base_failures_and_fixes(capsys):
    base = Outcomes({"t::a": "failed", "t::b": "failed"})
    patched = Outcomes({"t::a": "passed", "t::b": "failed"})
    assert report({"sftp": SuiteResult(patched, base, full_base=True)}, known={"t::a": "upstream bug"}) == 0
    out = capsys.readouterr().out
    assert "note: sftp: t::b fails on the base but is not in devel-common/known-failures.txt" in out
    assert "passed on the base" not in out
    assert "fixed by the series: sftp: t::a" in out


def test_report_names_listed_failures_that_pass_on_the_base(capsys):
    base = Outcomes({"t::stale": "passed", "t::real": "failed"})
    patched = Outcomes({"t::stale": "passed", "t::real": "failed"})
    known = {"t::stale": "needs a provider that is now installed", "t::real": "env"}
    assert report({"sftp": SuiteResult(patched, base, full_base=False)}, known) == 0
    out = capsys.readouterr().out
    assert (
        "note: sftp: t::stale passed on the base in this run although devel-common/known-failures.txt" in out
    )
    assert "t::real passed" not in out


def test_without_a_full_base_run_known_failures_stand_for_the_base_files_not_run(capsys):
    # The base ran only f.py, the file of the patched failures that are not known base failures.
    base = Outcomes({"f.py::ran_passes": "passed", "f.py::ran_fails": "failed", "f.py::known": "passed"})
    patched = Outcomes(
        {
            "f.py::ran_passes": "failed",  # passes on the base: broken by the series
            "f.py::ran_fails": "failed",  # fails on the base too, but is not listed
            "f.py::known": "failed",  # listed, yet passed when its file ran on the base
            "f.py::new": "failed",  # not on the base: a new test must pass
            "g.py::known_elsewhere": "failed",  # listed, its file not run on the base
            "h.py::new_file": "failed",  # a new file: not on the base
        }
    )
    known = {"f.py::known": "env", "g.py::known_elsewhere": "env"}
    assert report({"standard": SuiteResult(patched, base, full_base=False)}, known) == 1
    out = capsys.readouterr().out
    regressions = {line.split()[2] for line in out.splitlines() if "REGRESSION" in line}
    assert regressions == {"f.py::ran_passes", "f.py::known", "f.py::new", "h.py::new_file"}
    assert "note: standard: f.py::ran_fails fails on the base but is not in" in out
    assert "the base ran 1 test file(s) the comparison needed" in out
    assert not any(line.startswith("standard   base") for line in out.splitlines()), "no partial base row"


def test_reruns_drop_only_the_xdist_option_and_its_value():
    assert without_workers(("-q", "-n", "2", "--timeout=2", "2")) == ["-q", "--timeout=2", "2"]
    for suite in SUITES:
        assert "-n" not in without_workers(suite.args), suite.name
