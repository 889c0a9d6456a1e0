"""A pytest plugin that writes each test's final outcome as a JSON line to $FORK_OUTCOMES.

Loaded with `-p forktool.series.pytest_outcomes`; works under pytest-xdist (reports reach the controller).

A test skipped by its own ``skip``/``skipif`` mark is recorded as ``gated``: the suite itself declares
that it does not apply here (e.g. an Airflow-2-only test, or one for a newer Airflow than the base).
Any other skip (``pytest.skip()`` in a fixture or the test, a tests_common setup check) stays
``skipped``, and so does a module that skips itself at collection (one entry for the module). Every
skip or gate also records its reason.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Generator
from typing import Any

_GATE = "fork_gate"
_outcomes: dict[str, str] = {}
_reasons: dict[str, str] = {}
_collect_errors: list[str] = []


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def _mark_reasons(item: Any) -> set[str]:
    """The reasons pytest reports when one of the item's skip/skipif marks skips it."""
    reasons = set()
    for name in ("skip", "skipif"):
        for mark in item.iter_markers(name=name):
            if "reason" in mark.kwargs:
                reasons.add(str(mark.kwargs["reason"]))
            elif name == "skip":
                reasons.add(str(mark.args[0]) if mark.args else "unconditional skip")
            elif mark.args and isinstance(mark.args[0], str):
                reasons.add(f"condition: {mark.args[0]}")
    return reasons


def _makereport(item: Any, call: Any) -> Generator[None, Any, Any]:
    report = yield
    # Marks are evaluated during setup, before any fixture; the reason tells them apart from a skip
    # raised by another setup hook. user_properties travel with the report to the xdist controller.
    if report.when == "setup" and report.skipped and _skip_reason(report) in _mark_reasons(item):
        report.user_properties.append((_GATE, True))
    return report


# Imported by name: this module only ever runs inside pytest, the tool itself does not depend on it.
_hookimpl = importlib.import_module("pytest").hookimpl
pytest_runtest_makereport = _hookimpl(wrapper=True)(_makereport)


def pytest_runtest_logreport(report: Any) -> None:
    nodeid = report.nodeid
    if report.when == "call":
        if report.passed:
            _outcomes.setdefault(nodeid, "passed")
        elif report.skipped:
            _outcomes[nodeid] = "skipped"  # an xfail counts as skipped
            _reasons[nodeid] = _skip_reason(report)
        else:
            _outcomes[nodeid] = "failed"
    elif report.when == "setup":
        if report.skipped:
            gated = any(name == _GATE for name, _ in report.user_properties)
            _outcomes[nodeid] = "gated" if gated else "skipped"
            _reasons[nodeid] = _skip_reason(report)
        elif report.failed:
            _outcomes[nodeid] = "error"
    elif report.when == "teardown" and report.failed and _outcomes.get(nodeid) == "passed":
        _outcomes[nodeid] = "error"


def pytest_collectreport(report: Any) -> None:
    if report.failed:
        _collect_errors.append(report.nodeid)
    elif report.skipped:
        # A module that skips itself while being collected (pytest.importorskip, or pytest.skip with
        # allow_module_level) has no tests to report: it is recorded as one skipped entry.
        _outcomes[report.nodeid] = "skipped"
        _reasons[report.nodeid] = _skip_reason(report)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    path = os.environ.get("FORK_OUTCOMES")
    if not path or hasattr(session.config, "workerinput"):  # only the xdist controller writes
        return
    with open(path, "w") as out:
        for nodeid, outcome in sorted(_outcomes.items()):
            record = {"nodeid": nodeid, "outcome": outcome}
            if nodeid in _reasons:
                record["reason"] = _reasons[nodeid]
            out.write(json.dumps(record) + "\n")
        for nodeid in _collect_errors:
            out.write(json.dumps({"nodeid": nodeid, "outcome": "collection-error"}) + "\n")
