"""The same DAGs on the LocalExecutor stack (tests/conftest.py: ``dag.test(use_executor=True)``) and on
the Celery stack: equal task states and equal XCom return values.

The subset, and why: ``supervised_basics`` (async -> sync through XCom), ``iterate_e2e`` (threaded and
async ``.iterate()``, ``.expand()`` of the same input, classic operators, fail-fast, collect-all,
per-item retries) and ``comms_accessors`` (every awaitable accessor through the execution API). The
task_event_loop DAG's states are compared in test_async_tasks.py against the LocalExecutor expectations
of tests/test_task_event_loop.py (one run each instead of two); DAGs whose tasks kill their own process or
depend on timing (iterate_resume, comms_requests) are checked on Celery by their own tests; values that
name a process (pids) or a duration are left out of the comparison.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)

VOLATILE = {"pid", "elapsed", "seconds", "sync_seconds"}


def stable(value):
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def outcome(stack, dag_id: str, env: dict[str, str] | None) -> tuple[dict[str, str], dict[str, object]]:
    run = stack.run_dag(dag_id, env=env, timeout=600) if env else stack.run_dag(dag_id, timeout=600)
    assert run.state in ("success", "failed"), run.output[-4000:]
    values = {}
    for key, state in run.tis.items():
        if "[" in key or state != "success":
            continue
        try:
            values[key] = stable(stack.xcom(dag_id, run.run_id, key))
        except Exception as e:  # no return value (e.g. a task returning None): compare its absence
            values[key] = f"<no xcom: {type(e).__name__}>"
    return run.tis, values


@pytest.fixture(scope="module")
def comms_conn(stack, celery_stack):
    for s in (stack, celery_stack):
        added = s.airflow(
            "connections", "add", "comms_fork_conn", "--conn-type", "http", "--conn-host", "example.invalid",
            "--conn-login", "user", "--conn-password", "s3cret",
        )  # fmt: skip
        assert added.returncode == 0 or "already exists" in added.stdout + added.stderr


@pytest.mark.parametrize("dag_id", ["supervised_basics", "iterate_e2e", "comms_accessors"])
def test_same_results_on_local_and_celery(stack, celery_stack, comms_conn, dag_id, tmp_path):
    result_file = Path(celery_stack.extra_env["FORK_TEST_RESULT"])
    local = outcome(stack, dag_id, {"FORK_TEST_RESULT": str(tmp_path / "local.json")})
    celery = outcome(celery_stack, dag_id, None)
    assert celery[0] == local[0]
    assert celery[1] == local[1]
    assert any(not str(v).startswith("<no xcom") for v in local[1].values()), local[1]  # values compared
    if dag_id == "comms_accessors":
        assert stable(json.loads(result_file.read_text())) == stable(
            json.loads((tmp_path / "local.json").read_text())
        )
