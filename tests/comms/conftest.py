"""Helpers of the comms / async accessor / decorator integration tests (real supervisor, real
execution API: the session ``stack`` fixture of tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def log_of(stack):
    return stack.task_log_records
