"""Async callables under the standard provider's decorators (patch 0007), through the real supervisor:
each task leaves a side-effect file proving what ran, where; and an async generator callable is
rejected when the Dag is parsed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DAG_ID = "comms_decorators"

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def decorators_run(stack, tmp_path_factory):
    marks = Path(tmp_path_factory.mktemp("comms-marks"))
    run = stack.run_dag(DAG_ID, env={"FORK_TEST_MARKS": str(marks)}, timeout=400)
    return run, marks


def test_task_states(decorators_run):
    run, _ = decorators_run
    assert run.tis == {
        "async_sensor": "success",
        "async_branch": "success",
        "left": "skipped",
        "right": "success",
        "async_short_circuit": "success",
        "after_short_circuit": "skipped",
        "async_external_python": "success",
        "async_virtualenv": "success",
    }, run.output[-4000:]


def test_async_sensor_pokes_until_the_awaited_result_is_true(decorators_run):
    run, marks = decorators_run
    assert run.tis["async_sensor"] == "success", run.output[-4000:]
    # Three pokes: False, False, True. A coroutine object taken as the result would end it after one.
    assert sorted(os.listdir(marks / "sensor")) == ["poke-0", "poke-1", "poke-2"]


def test_async_branch_follows_the_awaited_branch(decorators_run):
    run, marks = decorators_run
    assert (marks / "branch").exists()
    assert (marks / "right").exists() and not (marks / "left").exists()
    assert (run.tis["left"], run.tis["right"]) == ("skipped", "success")


def test_async_short_circuit_skips_on_awaited_false(decorators_run):
    run, marks = decorators_run
    assert (marks / "short_circuit").exists()
    assert not (marks / "after_short_circuit").exists()
    assert run.tis["after_short_circuit"] == "skipped"


def _child(marks: Path, task_id: str) -> tuple[int, int, str, int]:
    pid, ppid, where = (marks / task_id).read_text().split(" ", 2)
    return int(pid), int(ppid), where, int((marks / f"{task_id}.task_pid").read_text())


def test_async_external_python_runs_in_the_target_interpreter(stack, decorators_run):
    run, marks = decorators_run
    assert run.tis["async_external_python"] == "success", run.output[-4000:]
    pid, ppid, executable, task_pid = _child(marks, "async_external_python")
    # The coroutine ran in a child of the task process, under the interpreter named by python=.
    assert executable == str(stack.python.parent / "python{}.{}".format(*sys.version_info))
    assert pid != task_pid and ppid == task_pid
    log = stack.task_log(DAG_ID, run.run_id, "async_external_python")
    assert f"Returned value was: {pid}" in log


def test_async_virtualenv_runs_in_the_virtualenv(stack, decorators_run):
    run, marks = decorators_run
    assert run.tis["async_virtualenv"] == "success", run.output[-4000:]
    pid, ppid, prefix, task_pid = _child(marks, "async_virtualenv")
    assert pid != task_pid and ppid == task_pid
    assert Path(prefix) != Path(stack.python).parent.parent
    log = stack.task_log(DAG_ID, run.run_id, "async_virtualenv")
    assert f"Executing cmd: {prefix}/bin/python " in log  # the callable's script ran in the new venv
    assert f"Returned value was: {prefix}" in log


PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print("PARSED " + json.dumps({"dags": sorted(bag.dag_ids), "errors": bag.import_errors}))
"""


@pytest.mark.parametrize("decorator", ["task", "task.sensor", "task.virtualenv", "task.branch"])
def test_async_generator_callable_is_rejected_at_parse_time(stack, tmp_path, decorator):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "agen_dag.py").write_text(
        textwrap.dedent(f"""
        from airflow.sdk import dag, task

        @dag(schedule=None)
        def agen_dag():
            @{decorator}
            async def produce():
                yield 1

            produce()

        agen_dag()
        """)
    )
    proc = subprocess.run(
        [str(stack.python), "-c", PARSE, str(dags)],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("PARSED ")), None)
    assert line, (proc.stdout + proc.stderr)[-3000:]
    parsed = json.loads(line.removeprefix("PARSED "))
    assert parsed["dags"] == []
    [(path, error)] = parsed["errors"].items()
    assert path.endswith("agen_dag.py")
    assert "async generator" in error, error
    assert "produce" in error, error
