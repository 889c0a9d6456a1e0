"""Async callables under the standard provider's decorators, run through the real supervisor by
tests/comms/test_comms_decorators.py. Each leaves a side-effect file in $FORK_TEST_MARKS."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

from airflow.sdk import DAG, task

MARKS = os.environ.get("FORK_TEST_MARKS", "/tmp/fork-comms-marks")
# The env's own interpreter, by another of its names than the task process's sys.executable, so the
# side effect shows which interpreter ran the callable: pythonX.Y of the version the env is built on
# (./fork builds one environment per Python version).
EXTERNAL_PYTHON = os.path.join(os.path.dirname(sys.executable), "python{}.{}".format(*sys.version_info))


def record_task_pid(context) -> None:
    """on_execute_callback: the pid of the task process, to compare with the callable's process."""
    mark(f"{context['ti'].task_id}.task_pid", str(os.getpid()))


def mark(name: str, value: str = "") -> None:
    os.makedirs(os.path.dirname(os.path.join(MARKS, name)), exist_ok=True)
    with open(os.path.join(MARKS, name), "w") as f:
        f.write(value)


with DAG(
    dag_id="comms_decorators",
    schedule=None,
    catchup=False,
    default_args={"execution_timeout": timedelta(seconds=120), "retries": 0},
):

    @task.sensor(poke_interval=0.1, timeout=30, mode="poke")
    async def async_sensor():
        pokes = os.path.join(MARKS, "sensor")
        n = len(os.listdir(pokes)) if os.path.isdir(pokes) else 0
        await asyncio.sleep(0.01)
        mark(f"sensor/poke-{n}", str(os.getpid()))
        return n >= 2  # False, False, True

    @task.branch
    async def async_branch():
        await asyncio.sleep(0.01)
        mark("branch")
        return "right"

    @task
    def left():
        mark("left")

    @task
    def right():
        mark("right")

    @task.short_circuit
    async def async_short_circuit():
        await asyncio.sleep(0.01)
        mark("short_circuit")
        return False

    @task
    def after_short_circuit():
        mark("after_short_circuit")

    @task.external_python(python=EXTERNAL_PYTHON, expect_airflow=False, on_execute_callback=record_task_pid)
    async def async_external_python():
        import asyncio
        import os
        import sys

        await asyncio.sleep(0.01)
        marks = os.environ["FORK_TEST_MARKS"]
        with open(os.path.join(marks, "async_external_python"), "w") as f:
            f.write(f"{os.getpid()} {os.getppid()} {sys.executable}")
        return os.getpid()

    @task.virtualenv(system_site_packages=True, requirements=[], on_execute_callback=record_task_pid)
    async def async_virtualenv():
        import asyncio
        import os
        import sys

        await asyncio.sleep(0.01)
        marks = os.environ["FORK_TEST_MARKS"]
        with open(os.path.join(marks, "async_virtualenv"), "w") as f:
            f.write(f"{os.getpid()} {os.getppid()} {sys.prefix}")
        return sys.prefix

    async_sensor()
    async_branch() >> [left(), right()]
    async_short_circuit() >> after_short_circuit()
    async_external_python()
    async_virtualenv()
