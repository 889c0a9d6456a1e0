"""Supervisor comms under concurrency and cancellation, through the real supervisor and execution API
(patch 0005): many concurrent async requests, some cancelled, each answered with its own reply; and
blocking calls from the event loop while async requests are in flight."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DAG_ID = "comms_requests"
SYNC_VAR = "comms_sync_var"
EXECUTION_TIMEOUT = 120  # the Dag's execution_timeout

pytestmark = pytest.mark.timeout(600)


def expected(i: int | str) -> str:
    return f"value-of-echo-{i}"


@pytest.fixture(scope="module")
def requests_run(stack, tmp_path_factory):
    """One run of comms_requests, and what each task recorded, by task id."""
    set_var = stack.airflow("variables", "set", SYNC_VAR, "hello")
    assert set_var.returncode == 0, set_var.stderr[-2000:]
    results = Path(tmp_path_factory.mktemp("comms-results"))
    run = stack.run_dag(DAG_ID, env={"FORK_TEST_RESULTS": str(results)}, timeout=240)
    recorded = {p.stem: json.loads(p.read_text()) for p in results.glob("*.json")}
    return run, recorded


def test_task_states(requests_run):
    run, _ = requests_run
    assert run.tis == {"src": "success", "concurrent_pulls": "success", "sync_in_async": "success"}, (
        run.output[-4000:]
    )
    assert run.state == "success"


def test_concurrent_pulls_with_random_cancellations_each_get_their_own_answer(requests_run):
    run, recorded = requests_run
    r = recorded.get("concurrent_pulls")
    assert r is not None, run.output[-4000:]
    pulled = r["pulled"]
    # Every call that was not cancelled got the value of its own key: no crossed replies.
    wrong = {i: v for i, v in pulled.items() if v != expected(i)}
    assert wrong == {}
    assert len(set(pulled.values())) == len(pulled)
    # 1,000 in a gather with random wait_for timeouts, then 200 in a TaskGroup cancelled midway: some
    # of each were cancelled, the others answered.
    assert r["ok_in_gather"] + r["cancelled_in_gather"] == 1000
    assert r["ok_in_group"] + r["cancelled_in_group"] == 200
    assert len(pulled) == r["ok_in_gather"] + r["ok_in_group"]
    assert r["ok_in_gather"] > 0 and r["cancelled_in_gather"] > 0
    assert r["cancelled_in_group"] > 0
    assert r["after"] == {i: expected(i) for i in r["after"]} and len(r["after"]) == 10


def test_concurrent_pulls_end_well_inside_execution_timeout(requests_run):
    run, recorded = requests_run
    assert run.tis.get("concurrent_pulls") == "success", run.output[-4000:]
    duration = run.durations["concurrent_pulls"]
    assert duration is not None and duration < EXECUTION_TIMEOUT / 2, duration
    assert recorded["concurrent_pulls"]["elapsed"] < EXECUTION_TIMEOUT / 2


def test_sync_variable_get_in_async_task_with_requests_in_flight(requests_run):
    run, recorded = requests_run
    r = recorded.get("sync_in_async")
    assert r is not None, run.output[-4000:]
    # Served (patch 0005 made DeadlockImminentError obsolete); the task did not hang.
    assert r["error"] is None, r["error"]
    assert r["values"] == ["hello"] * 50
    assert r["avalues"] == ["hello"] * 50
    assert r["pulled"] == [expected(i) for i in range(200)]
    assert run.durations["sync_in_async"] < EXECUTION_TIMEOUT / 2


def test_sync_call_from_the_loop_logs_the_documented_warning_once_per_kind(requests_run, log_of):
    run, _ = requests_run
    records = log_of(DAG_ID, run.run_id, "sync_in_async")
    warned = [r for r in records if "Blocking call to the supervisor" in str(r.get("event", ""))]
    kinds = [r.get("msg_type") for r in warned]
    assert "GetVariable" in kinds, [r.get("event") for r in records][-30:]
    assert len(kinds) == len(set(kinds)), kinds
    assert all(r.get("level") == "warning" for r in warned)
    assert "await Variable.aget()" in warned[0]["event"]


def test_replies_to_cancelled_requests_are_not_warned_about(stack, requests_run):
    """A reply to a request its caller cancelled is expected and dropped quietly (issue 11, item 9).

    ``concurrent_pulls`` cancels a few hundred in-flight ``axcom_pull`` calls; each of their replies still
    arrives and is read. None may be logged as a reply to an unknown request: that warning is for ids the
    task never sent (covered in task-sdk's test_comms_multiplexing.py).
    """
    run, recorded = requests_run
    r = recorded["concurrent_pulls"]
    assert r["cancelled_in_gather"] + r["cancelled_in_group"] > 0
    text = stack.task_log(DAG_ID, run.run_id, "concurrent_pulls")
    unknown = [line for line in text.splitlines() if "Discarding a reply for an unknown request" in line]
    assert unknown == [], f"{len(unknown)} warnings, first: {unknown[:3]}"
