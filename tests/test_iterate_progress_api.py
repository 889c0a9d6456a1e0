""".iterate() progress where users look: the task log served by the real Airflow REST API.

The api-server of the session's stack (127.0.0.1, SimpleAuthManager) serves
``GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}``, the endpoint
the UI's log view reads; the progress events must come back from it as structured records.
"""

from __future__ import annotations

import itertools
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import Request, urlopen

import pytest

DAG_ID = "iterate_progress_api"
COUNTED = 240
WITH_FAILURES = 60
BAD = [19, 39, 59]


@pytest.fixture(scope="module")
def progress_run(stack):
    result = stack.run_dag(DAG_ID, timeout=600)
    assert result.tis == {"counted": "success", "with_failures": "failed"}, result.output[-3000:]
    return result


def api_records(stack, run, task_id):
    return stack.api_task_log(DAG_ID, run.run_id, task_id, try_number=1)


def test_log_endpoint_requires_auth(stack, progress_run):
    """The log really comes through the auth manager: without a token the endpoint refuses."""
    run_id = quote(progress_run.run_id, safe="")
    url = f"{stack.base_url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/counted/logs/1"
    with pytest.raises(HTTPError) as refused:
        urlopen(Request(url, headers={"Accept": "application/json"}), timeout=30)
    assert refused.value.code == 401


def test_progress_events_through_rest_api(stack, progress_run):
    records = api_records(stack, progress_run, "counted")
    progress = [r for r in records if r.get("event") == "Task progress"]
    # One event per finished item (interval 0): every count from 1 to the total, in order.
    assert [r["done"] for r in progress] == list(range(1, COUNTED + 1))
    assert {r["total"] for r in progress} == {COUNTED}
    assert {r["failed"] for r in progress} == {0}
    assert [r["percent"] for r in progress][-1] == 100.0
    assert progress[-1]["eta_s"] == 0.0
    assert all(r["rate"] > 0 for r in progress)
    (summary,) = [r for r in records if r.get("event") == "Task progress summary"]
    assert summary["done"] == COUNTED and summary["total"] == COUNTED and summary["failed"] == 0
    assert summary["status"] == "success" and summary["failures"] == []
    assert 1 <= summary["peak_concurrency"] <= summary["concurrency"] == 4
    # The summary closes the iteration: it comes after the last progress event.
    assert records.index(summary) > records.index(progress[-1])
    # The API serves the same records the task wrote to its log file.
    file_records = stack.task_log_records(DAG_ID, progress_run.run_id, "counted")
    assert [r["done"] for r in file_records if r.get("event") == "Task progress"] == list(
        range(1, COUNTED + 1)
    )


def test_failed_items_counted_through_rest_api(stack, progress_run):
    records = api_records(stack, progress_run, "with_failures")
    progress = [r for r in records if r.get("event") == "Task progress"]
    steps = [(r["done"], r["failed"]) for r in progress]
    # Each finished item moves exactly one counter by one; failures never undo successes.
    assert steps[0] in {(1, 0), (0, 1)}
    for (done, failed), (next_done, next_failed) in itertools.pairwise(steps):
        assert (next_done - done, next_failed - failed) in {(1, 0), (0, 1)}
    assert steps[-1] == (WITH_FAILURES - len(BAD), len(BAD))
    assert progress[-1]["percent"] == 100.0
    (summary,) = [r for r in records if r.get("event") == "Task progress summary"]
    assert (summary["done"], summary["failed"], summary["total"]) == (57, 3, WITH_FAILURES)
    assert summary["status"] == "IterateFailed"
    assert [f["index"] for f in summary["failures"]] == BAD
    assert {f["error"] for f in summary["failures"]} == {f"item {x} is bad" for x in BAD}
