"""What happens to a running async task when its Celery worker goes away (tests/dags/celery_dags.py).

- Warm shutdown (SIGTERM to the worker's main process, Celery's documented way to stop a worker): the
  worker stops taking tasks and waits for the running one, which finishes normally; the worker then exits.
- SIGTERM to the worker's whole process group (systemd's default ``KillMode=control-group``, ``kill --
  -PGID``): the task process gets SIGTERM itself, its coroutine is cancelled, its ``finally`` and
  ``on_kill`` run, and the task ends failed with AirflowTaskTerminated: the state upstream's task runner
  gives that exception (terminal failure). Upstream itself only calls ``on_kill`` from its SIGTERM
  handler and lets the coroutine run on.
- SIGKILL of the worker half way through an ``.iterate()`` task with retries=1: the scheduler fails the
  orphaned attempt (task instance heartbeat timeout), the retry runs on the other worker and skips the
  items the first attempt checkpointed.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("ensure_workers")]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def started_on(stack, events, task_id: str) -> tuple[int, str]:
    """(pid, worker name) of the task process once it recorded that it started."""
    event = wait_for(
        lambda: next((e for e in events.of(task_id) if e["kind"] in ("started", "pid")), None),
        120,
        f"{task_id} to start",
    )
    worker = stack.worker_of(event["pid"])
    assert worker is not None, f"task process {event['pid']} is not under any Celery worker"
    return event["pid"], worker


def test_warm_shutdown_lets_the_running_async_task_finish(celery_stack, events):
    run = celery_stack.trigger_dag("celery_warm_shutdown", wait=False)
    _, worker = started_on(celery_stack, events, "long_sleep")
    signalled = time.monotonic()
    status = celery_stack.stop_worker(worker, signal.SIGTERM, timeout=120)
    assert status is not None, "the worker did not exit within 120 s of SIGTERM"
    # The worker waited for its task (8 s of sleep), then exited.
    assert time.monotonic() - signalled > 3
    result = celery_stack.wait_dag_run("celery_warm_shutdown", run.run_id, timeout=120)
    assert result.tis == {"long_sleep": "success"}, result.output
    assert events.kinds("long_sleep") == ["started", "finally", "completed"]


def test_sigterm_to_the_worker_process_group_cancels_the_coroutine(celery_stack, events):
    run = celery_stack.trigger_dag("celery_group_sigterm", wait=False)
    _, worker = started_on(celery_stack, events, "long_sleep")
    os.killpg(celery_stack.workers[worker].pid, signal.SIGTERM)
    status = celery_stack.stop_worker(worker, signal.SIGTERM, timeout=90)
    assert status is not None, "the worker did not exit within 90 s of SIGTERM"
    assert events.kinds("long_sleep") == ["started", "cancelled", "finally", "on_kill"]
    result = celery_stack.wait_dag_run("celery_group_sigterm", run.run_id, timeout=120)
    assert result.tis == {"long_sleep": "failed"}, result.output
    assert "AirflowTaskTerminated" in celery_stack.task_log("celery_group_sigterm", run.run_id, "long_sleep")


RESUME_DAG = "celery_iterate_resume"
ITEMS = 2000
CONCURRENCY = 4  # iterate_concurrency of the DAG's task
CHECKPOINT_INTERVAL = 0.2  # its iterate_checkpoint_interval, seconds
WRITE_ALLOWANCE = 1.0  # seconds one checkpoint write may take on a loaded machine (as tests/test_iterate.py)


def ran(events, try_number: int) -> list[dict]:
    return [e for e in events.of("resumable") if e["kind"] == "ran" and e["try_number"] == try_number]


def test_resume_on_the_other_worker_after_sigkill(celery_stack, events):
    """SIGKILL the worker half way; the retry lands on the other worker and runs only what is left.

    The bound is the iterate module's documented one (iterate_checkpoint.py): a retry re-runs at most
    the items finished within the last checkpoint interval before the kill, plus the items in flight.
    """
    clean = celery_stack.trigger_dag(RESUME_DAG, timeout=300)
    assert clean.tis == {"resumable": "success"}, clean.output
    expected = celery_stack.xcom(RESUME_DAG, clean.run_id, "resumable")
    assert expected == [{"x": x, "sq": x * x} for x in range(ITEMS)]
    events.clear()

    run = celery_stack.trigger_dag(RESUME_DAG, wait=False)
    _, first_worker = started_on(celery_stack, events, "resumable")
    wait_for(lambda: len(ran(events, 1)) >= ITEMS // 2, 120, "half of the items", interval=0.02)
    killed = celery_stack.kill_worker_tree(first_worker, signal.SIGKILL)
    killed_at = time.time()
    assert len(killed) >= 3, killed  # worker, pool process (supervisor), task process
    celery_stack.stop_worker(first_worker, timeout=30)
    time.sleep(0.5)  # writes the kill interrupted are on disk or never will be

    result = celery_stack.wait_dag_run(RESUME_DAG, run.run_id, timeout=300)
    assert result.tis == {"resumable": "success"}, result.output
    ti = celery_stack.ti_state(RESUME_DAG, run.run_id, "resumable")
    assert ti["try_number"] == 2
    second = [e for e in events.of("resumable") if e["kind"] == "pid" and e["try_number"] == 2]
    assert len(second) <= 1  # item 0 is done by try 1 already, so it may not run again
    first_done = {e["x"] for e in ran(events, 1)}
    second_done = [e["x"] for e in ran(events, 2)]
    assert len(second_done) == len(set(second_done))
    assert first_done | set(second_done) == set(range(ITEMS))

    records = celery_stack.task_log_records(RESUME_DAG, run.run_id, "resumable", attempt=2)
    (resumed,) = [r for r in records if r.get("event", "").startswith("Resuming")]
    # Only the items that were not checkpointed run again: exactly total - completed of them.
    assert len(second_done) == ITEMS - resumed["completed"]
    assert not set(second_done) & (first_done - set(second_done))
    lost = first_done & set(second_done)  # finished by try 1 but not checkpointed: run twice
    # The documented bound: the items finished in the last interval before the kill, plus those that
    # finished while the flush in progress was written (WRITE_ALLOWANCE covers one write on a loaded machine).
    window = CHECKPOINT_INTERVAL + WRITE_ALLOWANCE
    last_interval = [e for e in ran(events, 1) if e["time"] >= killed_at - window]
    assert len(lost) <= len(last_interval) + CONCURRENCY, (len(lost), len(last_interval))
    # The retry ran on the other worker (the first one is gone) and produced a clean run's result.
    assert "Resuming" in celery_stack.task_log(RESUME_DAG, run.run_id, "resumable", 2)
    assert celery_stack.xcom(RESUME_DAG, run.run_id, "resumable") == expected


def test_resume_after_the_task_process_is_killed_under_celery(celery_stack, events):
    """tests/dags/iterate_dags.py's iterate_resume on Celery: try 1 checkpoints 500 items, then SIGKILLs
    its own task process while the rest are parked (so the checkpoint writer's queue is empty); the
    supervisor in the pool process reports the loss, and try 2 runs only the other 500 items."""
    result = celery_stack.trigger_dag("iterate_resume", timeout=300)
    assert result.tis == {"resumable": "success", "check": "success"}, result.output
    second = sorted(e["x"] for e in events.of("resumable") if e.get("kind") == "ran" and e["try"] == 2)
    assert second == list(range(500, 1000))
    (results,) = [e["results"] for e in events.of("check") if e.get("kind") == "results"]
    assert results == [{"x": x, "sq": x * x} for x in range(1000)]
