"""The fork's task-process machinery in tasks a Celery worker's prefork pool started: SFTPBulkOperator over
a loopback sshd (the SFTP pool's per-loop state), the supervisor serving 1,000 concurrent reads in
parallel (its request thread pool, created per task in the pool process), and the SIGUSR2 task-tree dump."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forktool.stack.sftp_dataset import generate_dataset, verify

pytestmark = pytest.mark.timeout(900)

FILES = 2000


def test_sftp_bulk_operator_downloads_a_tree_inside_a_celery_worker(celery_stack, tmp_path_factory):
    remote = tmp_path_factory.mktemp("sftp-remote") / "tree"
    sums = generate_dataset(remote, FILES, 13)
    local = tmp_path_factory.mktemp("sftp-local") / "tree"
    result = celery_stack.trigger_dag(
        "sftp_bulk_get", conf={"remote_dir": str(remote), "local_dir": str(local)}, timeout=400
    )
    assert result.tis == {"bulk_get": "success"}, result.output
    assert len(sums) == FILES
    assert verify(local, sums) == 0
    assert sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()) == sorted(sums)


def test_supervisor_serves_concurrent_reads_in_parallel(celery_stack):
    """tests/dags/comms_requests.py: 1,000 concurrent axcom_pull (some cancelled), then blocking calls
    from the loop with 200 requests in flight; every reply is the caller's own."""
    assert celery_stack.airflow("variables", "set", "comms_sync_var", "hello").returncode == 0
    results = Path(celery_stack.extra_env["FORK_TEST_RESULTS"])
    for old in results.glob("*.json"):
        old.unlink()
    run = celery_stack.trigger_dag("comms_requests", timeout=300)
    assert run.tis == {"src": "success", "concurrent_pulls": "success", "sync_in_async": "success"}, (
        run.output
    )
    pulls = json.loads((results / "concurrent_pulls.json").read_text())
    assert pulls["pulled"] and all(v == f"value-of-echo-{i}" for i, v in pulls["pulled"].items())
    assert pulls["ok_in_gather"] + pulls["cancelled_in_gather"] == 1000
    assert pulls["after"] == {str(i): f"value-of-echo-{i}" for i in range(1200, 1210)}
    mixed = json.loads((results / "sync_in_async.json").read_text())
    assert mixed["error"] is None
    assert mixed["values"] == ["hello"] * 50 and mixed["avalues"] == ["hello"] * 50
    assert mixed["pulled"] == [f"value-of-echo-{i}" for i in range(200)]
    supervisor_log = celery_stack.task_log("comms_requests", run.run_id, "concurrent_pulls")
    assert "Traceback" not in supervisor_log


def test_sigusr2_dumps_the_task_tree(celery_stack):
    result = celery_stack.trigger_dag("iterate_introspect", timeout=300)
    assert result.tis == {"parked": "success"}, result.output
    records = celery_stack.task_log_records("iterate_introspect", result.run_id, "parked")
    (dump,) = [r for r in records if r.get("event", "").startswith("Task tree dump")]
    assert {"parked[0]", "parked[1]", "parked[2]"} <= set(dump["asyncio_tasks"])
    assert "-> parked" in dump["event"]
