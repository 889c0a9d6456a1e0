"""Under plain ``dag.test()`` a task's threads keep reaching the in-process supervisor while another of
its requests is being served: no failed checkpoint write, no lost terminal state, a summary for every
``.iterate()`` task (a fresh user's report: each of these failed in 3 of 3 runs before)."""

from __future__ import annotations

import subprocess

import pytest

DAG_ID = "in_process_threads"

pytestmark = pytest.mark.timeout(600)

IN_PROCESS_DAG_TEST = """
import sys
from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
dag = DagBag(dag_folder=sys.argv[1]).get_dag(sys.argv[2])
run = dag.test()
with create_session() as session:
    for ti in session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=run.run_id):
        print("DAG-TEST-TI", ti.task_id, ti.state)
"""


def test_task_threads_reach_the_in_process_supervisor_while_a_request_is_served(stack):
    proc = subprocess.run(
        [str(stack.python), "-c", IN_PROCESS_DAG_TEST, str(stack.dags_folder), DAG_ID],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    states = dict(line.split()[1:3] for line in proc.stdout.splitlines() if line.startswith("DAG-TEST-TI "))
    assert states == {
        "set_variable": "success",
        "read_variable": "success",
        "check": "success",
        "checkpointed": "success",
        "one_item_fails": "failed",
    }, out[-4000:]
    for symptom in ("Could not write iterate checkpoint", "Failed to report terminal", "SUPERVISOR_COMMS"):
        assert symptom not in out, out[-4000:]
    assert out.count("Task progress summary") == 3, out[-4000:]
