"""Async tasks started by a Celery worker's prefork pool (tests/dags/task_event_loop.py): the value
reaches XCom, hooks and callbacks share the task's one loop, stragglers are cancelled and named, and
execution_timeout cancels the coroutine, runs its cleanup and fails the task with AirflowTaskTimeout."""

from __future__ import annotations

import pytest

DAG_ID = "task_event_loop"

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def loop_run(celery_stack, celery_events):
    events = celery_events
    events.clear()
    result = celery_stack.run_dag(DAG_ID, timeout=300)
    return result, events


def test_task_states_match_the_local_executor(loop_run):
    result, _ = loop_run
    # The same states as tests/test_task_event_loop.py asserts under the LocalExecutor.
    assert result.tis == {
        "xcom_value": "success",
        "same_loop": "success",
        "leftover": "success",
        "agen": "success",
        "timeout": "failed",
        "sigterm": "failed",
        "blocking": "success",
        "sync_task": "success",
    }, result.output


def test_async_value_reaches_xcom(celery_stack, loop_run):
    result, _ = loop_run
    assert celery_stack.xcom(DAG_ID, result.run_id, "xcom_value") == {"answer": 42}


def test_hooks_callbacks_and_execute_share_one_loop(loop_run):
    _, events = loop_run
    got = events.kinds("same_loop", listeners=True)
    for kind in ("pre_execute", "on_execute_callback", "execute", "post_execute", "on_success_callback"):
        assert kind in got, got
    assert got.count("listener_start") == 1 and got.count("listener_end") == 1
    assert len({e["loop"] for e in events.of("same_loop")}) == 1, events.of("same_loop")


def test_leftover_task_is_cancelled_and_named_once(celery_stack, loop_run):
    result, _ = loop_run
    records = celery_stack.task_log_records(DAG_ID, result.run_id, "leftover")
    named = [r for r in records if r.get("level") == "warning" and "orphan-poller" in r.get("event", "")]
    assert len(named) == 1, records[-20:]


def test_execution_timeout_runs_finally_and_fails_with_airflow_task_timeout(celery_stack, loop_run):
    result, events = loop_run
    assert events.kinds("timeout") == ["started", "cancelled", "finally", "on_kill"]
    assert "AirflowTaskTimeout" in celery_stack.task_log(DAG_ID, result.run_id, "timeout")


def test_sigterm_to_the_task_process_runs_cleanup_then_on_kill(celery_stack, loop_run):
    result, events = loop_run
    assert events.kinds("sigterm") == ["started", "cancelled", "finally", "on_kill"]
    assert "AirflowTaskTerminated" in celery_stack.task_log(DAG_ID, result.run_id, "sigterm")
