"""Helpers of the comms / async accessor / decorator integration tests (real supervisor, real
execution API: the session ``stack`` fixture of tests/conftest.py)."""

from __future__ import annotations

import json

import pytest


def log_records(stack, dag_id: str, run_id: str, task_id: str, attempt: int = 1) -> list[dict]:
    """The JSON records of one task attempt's log."""
    text = stack.task_log(dag_id, run_id, task_id, attempt)
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="session")
def log_of(stack):
    return lambda *args, **kw: log_records(stack, *args, **kw)
