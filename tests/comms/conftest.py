"""Helpers of the comms / async accessor / decorator integration tests (real supervisor, real
execution API: the session ``stack`` fixture of tests/conftest.py)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest

# Runs one Dag with plain dag.test(): its tasks run in this interpreter, served by the in-process
# execution API (no supervisor child). Prints what the tests check.
IN_PROCESS_DAG_TEST = """
import os, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
dag = DagBag(dag_folder=sys.argv[1]).get_dag(sys.argv[2])
run = dag.test()
print("DAG-TEST-PID", os.getpid())
print("DAG-TEST-STATE", run.state)
with create_session() as session:
    for ti in session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=run.run_id):
        print("DAG-TEST-TI", ti.task_id, ti.state)
"""


@dataclass(frozen=True)
class InProcessRun:
    """What a plain ``dag.test()`` run printed: the Dag run's state, the interpreter's pid, task states."""

    state: str | None
    pid: int | None
    tis: dict[str, str]
    output: str


@pytest.fixture(scope="session")
def log_of(stack):
    return stack.task_log_records


@pytest.fixture(scope="session")
def dag_test_in_process(stack):
    """``dag_test_in_process(dag_id, env={...})``: run the Dag of tests/dags with plain ``dag.test()``."""

    def run(dag_id: str, env: dict[str, str] | None = None) -> InProcessRun:
        proc = subprocess.run(
            [str(stack.python), "-c", IN_PROCESS_DAG_TEST, str(stack.dags_folder), dag_id],
            env={**stack.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        printed = {}
        tis = {}
        for line in proc.stdout.splitlines():
            key, _, rest = line.partition(" ")
            if key == "DAG-TEST-TI":
                task_id, state = rest.split()
                tis[task_id] = state
            elif key in ("DAG-TEST-PID", "DAG-TEST-STATE"):
                printed[key] = rest
        pid = printed.get("DAG-TEST-PID")
        return InProcessRun(
            printed.get("DAG-TEST-STATE"), int(pid) if pid else None, tis, proc.stdout + proc.stderr
        )

    return run
