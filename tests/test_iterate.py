""".iterate() through the real supervisor: ordered results vs .expand(), concurrency bound, error policies,
per-item retries, resume after a killed attempt, progress events, classic operators."""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

N = 1000


def run(stack, dag_id, tmp_path_factory, **env):
    events_file = Path(tmp_path_factory.mktemp("events")) / "events.jsonl"
    result = stack.run_dag(dag_id, env={"FORK_TEST_EVENTS": str(events_file), **env}, timeout=600)
    events = (
        [json.loads(line) for line in events_file.read_text().splitlines()] if events_file.exists() else []
    )
    return result, events


def log_records(stack, dag_id, result, task_id, attempt=1):
    return stack.task_log_records(dag_id, result.run_id, task_id, attempt)


@pytest.fixture(scope="module")
def e2e(stack, tmp_path_factory):
    return run(stack, "iterate_e2e", tmp_path_factory)


@pytest.fixture(scope="module")
def errors(stack, tmp_path_factory):
    return run(stack, "iterate_errors", tmp_path_factory)


@pytest.fixture(scope="module")
def resume(stack, tmp_path_factory):
    return run(stack, "iterate_resume", tmp_path_factory)


def test_e2e_states(e2e):
    result, _ = e2e
    assert result.state == "success", result.output[-3000:]
    assert all(state == "success" for state in result.tis.values()), result.tis
    # one task instance per iterate task, 40 for the expanded reference
    assert "sync_sq" in result.tis and "sync_sq[0]" not in result.tis
    assert sum(1 for k in result.tis if k.startswith("expand_product[")) == 40


def test_sync_and_async_results_ordered(e2e):
    _, events = e2e
    (res,) = [e["results"] for e in events if e["kind"] == "results"]
    expected = [x * x for x in range(N)]
    assert res["sync_sq"] == expected
    assert res["async_sq"] == expected


def test_iterate_matches_expand_order(e2e):
    _, events = e2e
    (res,) = [e["results"] for e in events if e["kind"] == "results"]
    assert res["iter_product"] == res["expand_product"]
    assert len(res["iter_product"]) == 40


def test_concurrency_limit_never_exceeded(e2e):
    _, events = e2e
    peaks = {e["task_id"]: e["peak"] for e in events if e["kind"] == "peak"}
    assert set(peaks) == {"sync_sq", "async_sq"}
    for task_id, peak in peaks.items():
        assert 1 < peak <= 16, (task_id, peak)
    (res,) = [e["results"] for e in events if e["kind"] == "results"]
    assert res["summary_sync"]["peak_concurrency"] <= 16
    assert res["summary_sync"]["done"] == N


def test_classic_operators(e2e):
    _, events = e2e
    (res,) = [e["results"] for e in events if e["kind"] == "results"]
    assert res["classic_bash"] == [
        "alpha",
        "beta",
        "classic_bash",
    ]  # rendered with the task instance's context
    assert res["classic_python"] == [101, 102, 103]


@pytest.mark.parametrize("task_id", ["sync_sq", "async_sq"])
def test_progress_events_monotonic(stack, e2e, task_id):
    result, _ = e2e
    records = log_records(stack, "iterate_e2e", result, task_id)
    progress = [r for r in records if r.get("event") == "Task progress"]
    assert len(progress) >= 1
    dones = [r["done"] for r in progress]
    assert dones == sorted(dones)
    for r in progress:
        assert r["total"] == N and {"failed", "percent", "rate", "eta_s"} <= set(r)
    summaries = [r for r in records if r.get("event") == "Task progress summary"]
    assert len(summaries) == 1
    assert summaries[0]["done"] == N and summaries[0]["status"] == "success"


def test_errors_states(errors):
    result, _ = errors
    assert result.tis["fail_fast"] == "failed"
    assert result.tis["collect_all"] == "failed"
    assert result.tis["flaky"] == "success"
    assert result.tis["report"] == "success"


def test_fail_fast_stops_new_items(stack, errors):
    result, events = errors
    started = sorted(e["x"] for e in events if e["kind"] == "started")
    assert 10 in started
    assert max(started) <= 12 and len(started) < 20, started
    log = stack.task_log("iterate_errors", result.run_id, "fail_fast")
    assert "IterateFailed" in log and "bad item 10" in log


def test_collect_all_reports_every_failure(stack, errors):
    result, events = errors
    (summaries,) = [e for e in events if e["kind"] == "summaries"]
    failures = summaries["collect_all"]["failures"]
    assert [f["index"] for f in failures] == [7, 57, 107, 157]
    assert all(f["error_type"] == "KeyError" for f in failures)
    assert summaries["collect_all"]["done"] == 196
    log = stack.task_log("iterate_errors", result.run_id, "collect_all")
    assert "4 of 200 items failed (196 succeeded; all items ran)" in log


def test_item_retries(errors):
    _, events = errors
    (summaries,) = [e for e in events if e["kind"] == "summaries"]
    assert summaries["flaky"] == list(range(12))
    attempts = [e["x"] for e in events if e["kind"] == "attempt"]
    assert len(attempts) == 12 + 2 * 4  # x in {0,3,6,9} ran 3 times


def test_resume_after_kill(stack, resume):
    result, events = resume
    assert result.tis["resumable"] == "success", result.output[-3000:]
    first = {e["x"] for e in events if e["kind"] == "ran" and e["try"] == 1}
    second = {e["x"] for e in events if e["kind"] == "ran" and e["try"] == 2}
    assert first == set(range(500))
    assert second == set(range(500, N)), sorted(second)[:20]
    (res,) = [e["results"] for e in events if e["kind"] == "results"]
    assert res == [{"x": x, "sq": x * x} for x in range(N)]
    records = log_records(stack, "iterate_resume", result, "resumable", attempt=2)
    (resumed,) = [r for r in records if r.get("event", "").startswith("Resuming")]
    assert resumed["completed"] == 500


# -- checkpoints under faults (issue 11) ----------------------------------------------------------------

CHECKPOINT_ITEMS = 2000
#: iterate_checkpoint_interval's default, which the DAGs keep.
CHECKPOINT_INTERVAL = 2.0
#: The documented bound is the items finished in the last interval plus those finished while the flush in
#: progress was written (a few requests of milliseconds); this allows for a loaded 2-core machine.
FLUSH_SLACK = 1.0


@pytest.fixture(scope="module")
def kill_resume(stack, tmp_path_factory):
    return run(stack, "iterate_kill_resume", tmp_path_factory)


@pytest.fixture(scope="module")
def timeout_chain(stack, tmp_path_factory):
    return run(stack, "iterate_timeout_converges", tmp_path_factory)


def finished_by_try(events):
    by_try: dict[int, dict[int, float]] = {}
    for e in events:
        if e["kind"] == "finished":
            assert e["x"] not in by_try.setdefault(e["try"], {}), "an item ran twice in one attempt"
            by_try[e["try"]][e["x"]] = e["t"]
    return by_try


def checkpoint_keys(stack, dag_id, run_id, task_id):
    """The task instance's .iterate() checkpoint keys left in its state store (the final progress
    snapshot, ``airflow.progress``, is kept on purpose and is not one of them)."""
    quote = urllib.parse.quote
    path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/state-store"
    keys = [entry["key"] for entry in stack.api_get(path)["task_state_store"]]
    return [key for key in keys if key.startswith("airflow.iterate.")]


def test_sigkill_at_half_reruns_at_most_the_last_checkpoint_interval(stack, kill_resume):
    """SIGKILL of the task process after 1,000 of 2,000 items (80-180 ms, concurrency 16, retries=1)."""
    result, events = kill_resume
    assert result.tis["killed_at_half"] == "success", result.output[-3000:]
    (killed,) = [e["t"] for e in events if e["kind"] == "killed"]
    by_try = finished_by_try(events)
    first, second = by_try[1], by_try[2]
    assert len(first) == CHECKPOINT_ITEMS // 2 - 1  # the 1,000th item killed the process
    assert set(first) | set(second) == set(range(CHECKPOINT_ITEMS))
    rerun = set(first) & set(second)
    since = killed - (CHECKPOINT_INTERVAL + FLUSH_SLACK)
    last_interval = {x for x, t in first.items() if t >= since}
    # Only items of the last checkpoint interval ran again, never older ones (the manifest kept up).
    assert rerun <= last_interval, sorted((killed - first[x], x) for x in rerun - last_interval)[:10]
    print(
        f"\nSIGKILL after {len(first)} items: {len(rerun)} finished items ran again; "
        f"{len(last_interval)} finished in the last {CHECKPOINT_INTERVAL + FLUSH_SLACK:.0f} s before the kill"
    )
    (res,) = [e["results"] for e in events if e["kind"] == "results"]
    assert res == [x * 2 for x in range(CHECKPOINT_ITEMS)]
    records = log_records(stack, "iterate_kill_resume", result, "killed_at_half", attempt=2)
    (resumed,) = [r for r in records if r.get("event", "").startswith("Resuming")]
    assert resumed["completed"] == len(first) - len(rerun)
    # Chunks hold up to 1,000 items whatever the pace of the items (it was ~10 items per chunk).
    assert resumed["chunks"] == 1
    # Deleted once the success was recorded.
    assert checkpoint_keys(stack, "iterate_kill_resume", result.run_id, "killed_at_half") == []


def test_execution_timeout_retry_chain_converges(stack, timeout_chain):
    """execution_timeout=10 s over ~16 s of items, 3 tries: each try keeps what the earlier ones did."""
    result, events = timeout_chain
    assert result.tis["timed_out"] == "success", result.output[-3000:]
    by_try = finished_by_try(events)
    tries = sorted(by_try)
    assert len(tries) >= 2, "the first try was expected to time out"
    counts = Counter(x for finished in by_try.values() for x in finished)
    assert set(counts) == set(range(CHECKPOINT_ITEMS))
    rerun = {x for x, n in counts.items() if n > 1}
    # A timeout is an orderly failure: the queued items are flushed before the attempt ends. At most the
    # items of the last interval of a failed try may run again (if the flush itself was interrupted).
    allowed: set[int] = set()
    for t in tries[:-1]:
        end = max(by_try[t].values())
        allowed |= {x for x, at in by_try[t].items() if at >= end - (CHECKPOINT_INTERVAL + FLUSH_SLACK)}
    assert rerun <= allowed, sorted(rerun - allowed)[:20]
    print(f"\nitems per try: {[len(by_try[t]) for t in tries]}; {len(rerun)} finished items ran again")
    (res,) = [e["results"] for e in events if e["kind"] == "results"]
    assert res == [x * 2 for x in range(CHECKPOINT_ITEMS)]
    for t in tries[1:]:
        records = log_records(stack, "iterate_timeout_converges", result, "timed_out", attempt=t)
        (resumed,) = [r for r in records if r.get("event", "").startswith("Resuming")]
        done_before = {x for k in tries if k < t for x in by_try[k]}
        assert len(done_before) - len(allowed) <= resumed["completed"] <= len(done_before)
        # Each try adds at most one chunk (up to 1,000 items each), whatever the pace of the items: the
        # cost of resuming, and of deleting after success, follows the items (it was ~10 items a chunk).
        assert resumed["chunks"] <= (t - 1) + resumed["completed"] // 1000
    assert checkpoint_keys(stack, "iterate_timeout_converges", result.run_id, "timed_out") == []


def test_cleanup_after_success_does_not_count_against_execution_timeout(stack, tmp_path_factory):
    """Deleting the checkpoints takes 8 s (2 deletes of 4 s), longer than the 6 s execution_timeout.

    They are deleted once the success is recorded, so the attempt neither times out nor loses its
    results (issue 11: a try that finished all items timed out while deleting them, and the next try ran
    every item again).
    """
    result, events = run(
        stack,
        "iterate_slow_cleanup",
        tmp_path_factory,
        AIRFLOW__WORKERS__STATE_STORE_BACKEND="iterate_slow_state_store.SlowDeleteStateStore",
        FORK_TEST_STORE_DELETE_SECONDS="4",
    )
    assert result.tis["slow_cleanup"] == "success", result.output[-3000:]
    by_try = finished_by_try(events)
    assert sorted(by_try) == [1]
    assert sorted(by_try[1]) == list(range(300))
    records = log_records(stack, "iterate_slow_cleanup", result, "slow_cleanup")
    (deleted,) = [r for r in records if r.get("event") == "Deleted iterate checkpoints"]
    (summary,) = [r for r in records if r.get("event") == "Task progress summary"]
    assert deleted["deletes"] == 2
    # The slow backend was in use: the cleanup (after the summary) outlasted execution_timeout.
    at = {r["event"]: datetime.fromisoformat(r["timestamp"]) for r in (deleted, summary)}
    assert (at["Deleted iterate checkpoints"] - at["Task progress summary"]).total_seconds() >= 8
    assert not [r for r in records if "timed out" in str(r.get("event", "")).lower()]
    assert checkpoint_keys(stack, "iterate_slow_cleanup", result.run_id, "slow_cleanup") == []


BAD_DAGS = {
    "not_iterable": "f.iterate(x=5)",
    "string": "f.iterate(x='abc')",
    "zip_mismatch": "f.iterate_zip(x=[1, 2, 3], y=[1, 2])",
    "task_level": "BashOperator.partial(task_id='b').iterate(retries=[1, 2])",
    "unknown_arg": "f.iterate(x=[1], nope=[2])",
}
BAD_MESSAGES = {
    "not_iterable": "iterate() got an unexpected type 'int' for keyword argument 'x'",
    "string": "iterate() got an unexpected type 'str' for keyword argument 'x'",
    "zip_mismatch": "iterate_zip() arguments must all have the same length, got x=3, y=2",
    "task_level": "BashOperator.iterate() cannot iterate over task-level argument(s) 'retries'",
    "unknown_arg": "iterate() got an unexpected keyword argument 'nope'",
}


def test_bad_input_fails_at_parse_time(tmp_path):
    import subprocess

    for name, call in BAD_DAGS.items():
        (tmp_path / f"bad_{name}.py").write_text(
            "from airflow.sdk import DAG, task\n"
            "from airflow.providers.standard.operators.bash import BashOperator\n"
            f"with DAG('bad_{name}', schedule=None):\n"
            "    @task\n"
            "    def f(x, y=0):\n"
            "        return x\n"
            f"    {call}\n"
        )
    script = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1])\n"
        "print(json.dumps({k.rsplit('/', 1)[-1]: v for k, v in bag.import_errors.items()}))\n"
    )
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "home"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True, env=env
    )
    errors = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(errors) == {f"bad_{n}.py" for n in BAD_DAGS}
    for name, message in BAD_MESSAGES.items():
        assert message in errors[f"bad_{name}.py"], errors[f"bad_{name}.py"]


def test_sigusr2_dumps_item_tree(stack, tmp_path_factory):
    result, _ = run(stack, "iterate_introspect", tmp_path_factory)
    assert result.tis["parked"] == "success"
    records = log_records(stack, "iterate_introspect", result, "parked")
    (dump,) = [r for r in records if r.get("event", "").startswith("Task tree dump")]
    assert {"parked[0]", "parked[1]", "parked[2]"} <= set(dump["asyncio_tasks"])
    assert "-> parked" in dump["event"]
