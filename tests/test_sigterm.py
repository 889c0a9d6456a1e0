"""SIGTERM to a running task process, through the real supervisor (LocalExecutor, api-server, forked task
processes), for every kind of task (issue 11, item 8; apache/airflow#73006): another process sends SIGTERM
about 1 s into a 4 s execution. Each task must end failed through AirflowTaskTerminated, as Airflow marks a
terminated task, never as a success; its finally blocks and on_kill() still run, and execute() does not
carry on after the signal."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

DAG_ID = "sigterm_tasks"
SINGLE_TASKS = ("sync_operator", "sync_swallows", "async_operator", "sensor_poke", "task_sync")
ITERATE_TASKS = ("iterate_threads", "iterate_async", "iterate_classic_threads", "iterate_classic_async")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def sigterm_run(stack, tmp_path_factory):
    """One run of the sigterm_tasks DAG, with what every task recorded, grouped by task id."""
    events_file = Path(tmp_path_factory.mktemp("sigterm")) / "events.jsonl"
    result = stack.run_dag(DAG_ID, env={"FORK_TEST_EVENTS": str(events_file)}, timeout=240)
    events: dict[str, list[dict]] = defaultdict(list)
    for line in events_file.read_text().splitlines():
        event = json.loads(line)
        events[event["task_id"]].append(event)
    return result, events


def kinds(events, task_id):
    return [e["kind"] for e in events[task_id] if not e["kind"].startswith("listener_")]


def items(events, task_id, kind):
    return sorted(e["item"] for e in events[task_id] if e["kind"] == kind)


def test_every_kind_of_task_fails_and_the_run_fails(sigterm_run):
    result, _ = sigterm_run
    assert result.tis == dict.fromkeys(SINGLE_TASKS + ITERATE_TASKS, "failed"), result.output[-4000:]
    assert result.state == "failed"


@pytest.mark.parametrize("task_id", SINGLE_TASKS + ITERATE_TASKS)
def test_the_task_reports_termination_not_success(stack, sigterm_run, task_id):
    result, _ = sigterm_run
    records = stack.task_log_records(DAG_ID, result.run_id, task_id)
    text = "\n".join(json.dumps(r) for r in records)
    assert "AirflowTaskTerminated" in text, [r.get("event") for r in records][-20:]
    # Nothing recorded the run as a success: no return value pushed, no success callback path.
    assert not [r for r in records if str(r.get("event", "")).startswith("Done. Returned value was")]
    assert not [r for r in records if "Pushing xcom" in str(r.get("event", ""))]


def test_sync_operator_runs_on_kill_then_stops_and_cleans_up(sigterm_run):
    """The report's input: on_kill() ran, execute() did not carry on, its finally block ran."""
    _, events = sigterm_run
    assert kinds(events, "sync_operator") == ["started", "on_kill", "interrupted", "finally"]
    assert events["sync_operator"][2]["error"] == "AirflowTaskTerminated"


def test_sync_operator_that_swallows_the_termination_still_fails(sigterm_run):
    result, events = sigterm_run
    assert kinds(events, "sync_swallows") == ["started", "on_kill", "interrupted", "finally"]
    assert result.tis["sync_swallows"] == "failed"


def test_task_decorated_sync_function_stops_and_cleans_up(sigterm_run):
    _, events = sigterm_run
    assert kinds(events, "task_sync") == ["started", "finally"]


def test_async_operator_is_cancelled_cleans_up_then_on_kill(sigterm_run):
    _, events = sigterm_run
    assert kinds(events, "async_operator") == ["started", "finally", "on_kill"]


def test_poke_mode_sensor_stops_poking_and_cleans_up(sigterm_run):
    _, events = sigterm_run
    assert kinds(events, "sensor_poke") == ["started", "on_kill", "finally"]


def test_iterate_with_threads_starts_no_more_items_and_running_items_finish(sigterm_run):
    """Threads cannot be interrupted: the two items in flight run to their end (their finally runs), the
    two queued items never start, and no result is kept."""
    _, events = sigterm_run
    got = events["iterate_threads"]
    assert items(events, "iterate_threads", "item_started") == [0, 1], got
    # A function in a thread cannot be interrupted: the task waits for it (within the grace period).
    assert items(events, "iterate_threads", "item_done") == [0, 1], got
    assert items(events, "iterate_threads", "item_finally") == [0, 1], got


def test_iterate_with_async_items_cancels_them_and_their_cleanup_runs(sigterm_run):
    _, events = sigterm_run
    got = events["iterate_async"]
    assert items(events, "iterate_async", "item_started") == [0, 1], got
    assert items(events, "iterate_async", "item_finally") == [0, 1], got
    assert items(events, "iterate_async", "item_done") == [], got


def test_iterate_over_operators_in_threads_calls_their_on_kill_and_waits_for_them(sigterm_run):
    """Each operator item running in a thread gets its on_kill(), stops, and its cleanup runs before the
    task ends; the queued items never start."""
    _, events = sigterm_run
    got = events["iterate_classic_threads"]
    assert items(events, "iterate_classic_threads", "item_started") == [0, 1], got
    assert items(events, "iterate_classic_threads", "item_on_kill") == [0, 1], got
    assert items(events, "iterate_classic_threads", "item_stopped") == [0, 1], got
    assert items(events, "iterate_classic_threads", "item_finally") == [0, 1], got
    assert items(events, "iterate_classic_threads", "item_done") == [], got


def test_iterate_over_async_operators_cancels_them_then_calls_their_on_kill(sigterm_run):
    _, events = sigterm_run
    got = [e for e in events["iterate_classic_async"] if "item" in e]
    assert items(events, "iterate_classic_async", "item_started") == [0, 1], got
    assert items(events, "iterate_classic_async", "item_done") == [], got
    for item in (0, 1):
        assert [e["kind"] for e in got if e["item"] == item] == [
            "item_started",
            "item_finally",
            "item_on_kill",
        ]
