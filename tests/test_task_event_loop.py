"""The task-process event loop, through the real supervisor (LocalExecutor, api-server, forked task
processes): one loop per task attempt, its lifecycle, cancellation-based timeout and SIGTERM,
listener hooks and blocking-call detection."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

DAG_ID = "task_event_loop"


@pytest.fixture(scope="module")
def loop_run(stack, tmp_path_factory):
    """One run of the task_event_loop DAG, with what every task recorded, grouped by task id."""
    events_file = Path(tmp_path_factory.mktemp("events")) / "events.jsonl"
    result = stack.run_dag(
        DAG_ID,
        env={
            "FORK_TEST_EVENTS": str(events_file),
            "PYTHONWARNINGS": "error::DeprecationWarning:asyncio,"
            "error::DeprecationWarning:airflow.sdk.bases.operator,"
            "error::DeprecationWarning:airflow.sdk.execution_time.event_loop",
        },
    )
    events: dict[str, list[dict]] = defaultdict(list)
    for line in events_file.read_text().splitlines():
        event = json.loads(line)
        events[event["task_id"]].append(event)
    return result, events


def kinds(events, task_id, listeners=True):
    return [e["kind"] for e in events[task_id] if listeners or not e["kind"].startswith("listener_")]


def log_records(stack, result, task_id):
    return stack.task_log_records(DAG_ID, result.run_id, task_id)


def warnings(stack, result, task_id):
    return [r.get("event", "") for r in log_records(stack, result, task_id) if r.get("level") == "warning"]


def test_task_states(loop_run):
    result, _ = loop_run
    assert result.tis == {
        "xcom_value": "success",
        "same_loop": "success",
        "leftover": "success",
        "agen": "success",
        "timeout": "failed",
        "sigterm": "failed",
        "blocking": "success",
        "sync_task": "success",
    }, result.output[-4000:]


def test_async_task_value_reaches_xcom(stack, loop_run):
    result, _ = loop_run
    log = stack.task_log(DAG_ID, result.run_id, "xcom_value")
    assert "Done. Returned value was: {'answer': 42}" in log


def test_hooks_callbacks_and_execute_share_one_loop(loop_run):
    _, events = loop_run
    got = kinds(events, "same_loop")
    for kind in ("pre_execute", "on_execute_callback", "execute", "post_execute", "on_success_callback"):
        assert kind in got, got
    assert got.count("listener_start") == 1 and got.count("listener_end") == 1
    assert got.index("listener_start") < got.index("pre_execute")
    assert got.index("listener_end") > got.index("on_success_callback")
    assert len({e["loop"] for e in events["same_loop"]}) == 1, events["same_loop"]


def test_leftover_task_is_cancelled_and_named_once(stack, loop_run):
    result, _ = loop_run
    named = [w for w in warnings(stack, result, "leftover") if "orphan-poller" in w]
    assert len(named) == 1, warnings(stack, result, "leftover")


def test_async_generator_is_finalized_at_close(loop_run):
    _, events = loop_run
    assert kinds(events, "agen").count("agen_finally") == 1


def test_timeout_cancels_the_coroutine_runs_cleanup_then_fails(stack, loop_run):
    result, events = loop_run
    assert kinds(events, "timeout", listeners=False) == ["started", "cancelled", "finally", "on_kill"]
    assert "AirflowTaskTimeout" in stack.task_log(DAG_ID, result.run_id, "timeout")


def test_sigterm_cancels_the_coroutine_runs_cleanup_then_on_kill(stack, loop_run):
    result, events = loop_run
    assert kinds(events, "sigterm", listeners=False) == ["started", "cancelled", "finally", "on_kill"]
    assert "AirflowTaskTerminated" in stack.task_log(DAG_ID, result.run_id, "sigterm")


def test_blocking_call_gives_exactly_one_warning_naming_it(stack, loop_run):
    result, _ = loop_run
    blocked = [w for w in warnings(stack, result, "blocking") if "event loop blocked" in w]
    assert len(blocked) == 1, warnings(stack, result, "blocking")
    assert "blocking" in blocked[0] and "task_event_loop.py" in blocked[0]


def test_sync_task_creates_no_loop(stack, loop_run):
    result, events = loop_run
    assert kinds(events, "sync_task") == []
    assert "Created task event loop" not in stack.task_log(DAG_ID, result.run_id, "sync_task")


def test_async_listener_runs_on_the_task_loop(stack, tmp_path):
    events_file = tmp_path / "events.jsonl"
    result = stack.run_dag(
        "supervised_basics", env={"FORK_TEST_EVENTS": str(events_file), "FORK_TEST_ASYNC_LISTENER": "1"}
    )
    assert result.state == "success", result.output[-4000:]
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    for task_id in ("async_value", "sync_check"):
        mine = [e for e in events if e["task_id"] == task_id]
        assert [e["kind"] for e in mine] == ["listener_start", "async_listener_success", "listener_end"], mine
        assert len({e["loop"] for e in mine}) == 1
