"""Tasks whose threads talk to the supervisor while other requests are being served (helper report, session 8).

Run by tests/comms/test_in_process_threads.py under plain ``dag.test()``, where every request is served
in-process: sync ``.iterate()`` items reading a Variable from eight threads, and checkpoint and progress
threads writing while the task's own thread sends its requests, in a task that succeeds and one that fails.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from airflow.sdk import DAG, Variable, task

VARIABLE = "fork_in_process_threads"

with DAG(
    dag_id="in_process_threads",
    schedule=None,
    catchup=False,
    default_args={"execution_timeout": timedelta(seconds=120), "retries": 0},
) as dag:

    @task
    def set_variable() -> None:
        Variable.set(VARIABLE, "v")

    @task(iterate_concurrency=8, iterate_checkpoint_interval=0.02)
    def read_variable(x: int) -> str:
        return f"{Variable.get(VARIABLE)}{x}"

    @task(iterate_concurrency=4, iterate_checkpoint_interval=0.02)
    async def checkpointed(x: int) -> int:
        await asyncio.sleep(0.005)
        return x

    @task(iterate_concurrency=4, iterate_checkpoint_interval=0.02, iterate_fail_fast=False)
    async def one_item_fails(x: int) -> int:
        await asyncio.sleep(0.005)
        if x == 150:
            raise ValueError("item 150 fails on purpose")
        return x

    @task
    def check(values: list[str]) -> None:
        assert values == [f"v{x}" for x in range(64)], values

    first = set_variable()
    values = read_variable.iterate(x=list(range(64)))
    first >> values
    check(values)
    first >> [checkpointed.iterate(x=list(range(200))), one_item_fails.iterate(x=list(range(200)))]
