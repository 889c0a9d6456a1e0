"""A pytest plugin that writes each test's final outcome as a JSON line to $FORK_OUTCOMES.

Loaded with `-p forktool.pytest_outcomes`; works under pytest-xdist (reports reach the controller).
"""

from __future__ import annotations

import json
import os
from typing import Any

_outcomes: dict[str, str] = {}
_collect_errors: list[str] = []


def pytest_runtest_logreport(report: Any) -> None:
    nodeid = report.nodeid
    if report.when == "call":
        if report.passed:
            _outcomes.setdefault(nodeid, "passed")
        elif report.skipped:
            _outcomes[nodeid] = "skipped"  # an xfail counts as skipped
        else:
            _outcomes[nodeid] = "failed"
    elif report.when == "setup":
        if report.skipped:
            _outcomes[nodeid] = "skipped"
        elif report.failed:
            _outcomes[nodeid] = "error"
    elif report.when == "teardown" and report.failed and _outcomes.get(nodeid) == "passed":
        _outcomes[nodeid] = "error"


def pytest_collectreport(report: Any) -> None:
    if report.failed:
        _collect_errors.append(report.nodeid)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    path = os.environ.get("FORK_OUTCOMES")
    if not path or hasattr(session.config, "workerinput"):  # only the xdist controller writes
        return
    with open(path, "w") as out:
        for nodeid, outcome in sorted(_outcomes.items()):
            out.write(json.dumps({"nodeid": nodeid, "outcome": outcome}) + "\n")
        for nodeid in _collect_errors:
            out.write(json.dumps({"nodeid": nodeid, "outcome": "collection-error"}) + "\n")
