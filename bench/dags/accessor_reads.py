"""Benchmark DAG: one async task making many awaitable XCom or Variable reads through the supervisor.

Run by ``./fork bench accessors`` (forktool.bench.accessors) with conf {"kind": "xcom" | "variable",
"n": N, "concurrency": C}; the reading task writes {"elapsed", "ok", "how"} to $FORK_BENCH_RESULT.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import timedelta

from airflow.sdk import Variable, dag, task

N_KEYS = 100
BENCH_VAR = "bench_accessors_var"


@dag(schedule=None, catchup=False, default_args={"retries": 0})
def accessor_reads():
    @task
    def src(ti=None) -> None:
        for i in range(N_KEYS):
            ti.xcom_push(key=f"k-{i}", value=f"v-{i}")

    @task(execution_timeout=timedelta(minutes=10))
    async def reads(ti=None, dag_run=None) -> None:
        conf = dag_run.conf or {}
        kind, n, conc = conf.get("kind", "xcom"), int(conf.get("n", 1000)), int(conf.get("concurrency", 1))
        if kind == "xcom":
            how = "ti.axcom_pull"

            async def read(i: int):
                return await ti.axcom_pull(task_ids="src", key=f"k-{i % N_KEYS}") == f"v-{i % N_KEYS}"

        elif hasattr(Variable, "aget"):
            how = "Variable.aget"

            async def read(i: int):
                return await Variable.aget(BENCH_VAR) == "v"

        else:  # the unpatched base has no Variable.aget: its nearest awaitable read, the API backend's
            from airflow.sdk.execution_time.secrets.execution_api import ExecutionAPISecretsBackend

            backend, how = ExecutionAPISecretsBackend(), "ExecutionAPISecretsBackend.aget_variable"

            async def read(i: int):
                return await backend.aget_variable(BENCH_VAR) == "v"

        sem = asyncio.Semaphore(conc)

        async def one(i: int) -> bool:
            async with sem:
                return await read(i)

        start = time.perf_counter()
        ok = all(await asyncio.gather(*(one(i) for i in range(n))))
        elapsed = time.perf_counter() - start
        with open(os.environ["FORK_BENCH_RESULT"], "w") as f:
            json.dump({"elapsed": elapsed, "ok": ok, "how": how}, f)

    src() >> reads()


accessor_reads()
