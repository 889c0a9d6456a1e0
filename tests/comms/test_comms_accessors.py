"""The awaitable accessors (patch 0006, over the request ids of 0005): one async task using all of
them, under the real supervisor, plain ``dag.test()`` and ``airflow tasks test``; and upstream's async
task state store example Dag, which fails its first try on purpose and resumes on the retry."""

from __future__ import annotations

import json
import subprocess

import pytest

DAG_ID = "comms_accessors"
TASK_ID = "async_accessors"
CONN_ID = "comms_fork_conn"
EXPECTED = {
    "var_get": {"x": 1},
    "var_after_delete": "gone",
    "store_get": {"done": [1, 2, 3]},
    "store_after_delete": "gone",
    "store_after_clear": ["cleared", "cleared"],
    "xcom": {"v": 42},
    "conn": [CONN_ID, "example.invalid", "user"],
    "inlet_events": {"afetch_equals_async_for": True, "assets": ["comms_fork_asset"]},
}

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def conn(stack):
    """A connection defined in the metadata database only (the task gets it from the execution API)."""
    added = stack.airflow(
        "connections", "add", CONN_ID, "--conn-type", "http", "--conn-host", "example.invalid",
        "--conn-login", "user", "--conn-password", "s3cret",
    )  # fmt: skip
    # tests/celery/test_parity.py adds the same connection to this session's stack when it runs first.
    existed = "already exists" in added.stdout + added.stderr
    assert added.returncode == 0 or existed, added.stdout[-2000:] + added.stderr[-2000:]
    return CONN_ID


def read(result_file):
    return {k: v for k, v in json.loads(result_file.read_text()).items() if k != "pid"}


def test_accessors_through_the_real_supervisor(stack, conn, tmp_path):
    result_file = tmp_path / "result.json"
    run = stack.run_dag(DAG_ID, env={"FORK_TEST_RESULT": str(result_file)}, timeout=300)
    assert run.tis == {"produce": "success", TASK_ID: "success"}, run.output[-4000:]
    assert read(result_file) == EXPECTED


def test_accessors_under_in_process_dag_test(dag_test_in_process, conn, tmp_path):
    result_file = tmp_path / "result.json"
    run = dag_test_in_process(DAG_ID, env={"FORK_TEST_RESULT": str(result_file)})
    assert run.state == "success", run.output[-4000:]
    assert read(result_file) == EXPECTED
    # In-process: the task ran in the dag.test() interpreter itself, not in a supervised child.
    assert json.loads(result_file.read_text())["pid"] == run.pid


def test_accessors_under_airflow_tasks_test(stack, conn, tmp_path):
    result_file = tmp_path / "result.json"
    produced = stack.airflow("tasks", "test", DAG_ID, "produce")  # the asset event the task reads
    assert produced.returncode == 0, (produced.stdout + produced.stderr)[-4000:]
    proc = subprocess.run(  # stack.airflow(), plus this test's result file in the environment
        [str(stack.python.parent / "airflow"), "tasks", "test", DAG_ID, TASK_ID],
        env={**stack.env, "FORK_TEST_RESULT": str(result_file)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert result_file.exists(), (proc.stdout + proc.stderr)[-4000:]
    assert read(result_file) == EXPECTED


def test_upstream_async_task_state_store_example_resumes_on_retry(stack, log_of):
    dag_id = "example_task_state_store_async"
    run = stack.run_dag(dag_id, timeout=300)
    assert run.state == "success", run.output[-4000:]
    assert run.tis == {"ingest_pages": "success"}
    first = [r.get("event", "") for r in log_of(dag_id, run.run_id, "ingest_pages", attempt=1)]
    second = [r.get("event", "") for r in log_of(dag_id, run.run_id, "ingest_pages", attempt=2)]
    # Try 1 checkpointed two batches, then failed on purpose; try 2 resumed from the checkpoint.
    assert any("Checkpointed 8/12 pages" in e for e in first), first[-20:]
    assert "Staged worker loss after 8 pages" in stack.task_log(dag_id, run.run_id, "ingest_pages", 1)
    assert any("Resuming: 8 of 12 pages already fetched" in e for e in second), second[-20:]
    assert not any("Checkpointed 4/12" in e for e in second), second
    assert any("All 12 pages fetched, 7800 rows total" in e for e in second), second[-20:]
    assert any("Returned value was: {'pages': 12, 'rows': 7800}" in e for e in second), second[-20:]
