"""Async tasks that stress the task <-> supervisor comms channel through the real supervisor and
execution API, run by tests/comms/test_comms_requests.py. Each task writes what it observed to
$FORK_TEST_RESULTS/<task_id>.json."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from datetime import timedelta

from airflow.sdk import DAG, Variable, task

# Keys pulled by the tests: echo-0 .. echo-(N_KEYS-1); every one holds a distinct value.
N_KEYS = 1300
SYNC_VAR = "comms_sync_var"


def expected(i: int) -> str:
    return f"value-of-echo-{i}"


def record(task_id: str, result: dict) -> None:
    with open(os.path.join(os.environ["FORK_TEST_RESULTS"], f"{task_id}.json"), "w") as f:
        json.dump(result, f)


with DAG(
    dag_id="comms_requests",
    schedule=None,
    catchup=False,
    default_args={"execution_timeout": timedelta(seconds=120), "retries": 0},
) as dag:

    @task
    def src(ti=None) -> None:
        """Push N_KEYS XComs, each with a value that names its key."""
        for i in range(N_KEYS):
            ti.xcom_push(key=f"echo-{i}", value=expected(i))

    @task
    async def concurrent_pulls(ti=None) -> dict:
        """1,000 concurrent axcom_pull with random cancellations, then a TaskGroup cancelled midway."""
        rng = random.Random(int(os.environ.get("FORK_TEST_SEED", "7")))
        n = 1000
        got_by_key: dict[int, object] = {}
        cancelled = 0

        async def pull(i: int):
            return i, await ti.axcom_pull(task_ids="src", key=f"echo-{i}")

        async def one(i: int, may_time_out: bool):
            nonlocal cancelled
            try:
                if may_time_out and rng.random() < 0.3:
                    i, got = await asyncio.wait_for(pull(i), timeout=rng.uniform(0, 0.05))
                else:
                    i, got = await pull(i)
            except TimeoutError:
                cancelled += 1
                return
            except asyncio.CancelledError:
                cancelled += 1
                raise
            got_by_key[i] = got

        started = time.monotonic()
        await asyncio.gather(*(one(i, True) for i in range(n)))
        ok_in_gather, cancelled_in_gather = len(got_by_key), cancelled

        class Boom(Exception):
            pass

        async def boom():
            await asyncio.sleep(0.02)
            raise Boom

        try:
            async with asyncio.TaskGroup() as tg:
                for i in range(n, n + 200):
                    tg.create_task(one(i, False))
                tg.create_task(boom())
        except* Boom:
            pass

        # After all that, the channel still answers each caller with its own reply.
        after = dict(await asyncio.gather(*(pull(i) for i in range(n + 200, n + 210))))
        result = {
            "total": n + 200,
            "ok_in_gather": ok_in_gather,
            "cancelled_in_gather": cancelled_in_gather,
            "ok_in_group": len(got_by_key) - ok_in_gather,
            "cancelled_in_group": cancelled - cancelled_in_gather,
            "pulled": {str(i): v for i, v in got_by_key.items()},
            "after": {str(i): v for i, v in after.items()},
            "elapsed": time.monotonic() - started,
        }
        record("concurrent_pulls", result)
        return {"ok": len(got_by_key), "cancelled": cancelled}

    @task
    async def sync_in_async(ti=None) -> dict:
        """50 blocking Variable.get calls from the loop thread while 200 async requests are in flight."""
        in_flight = [
            asyncio.ensure_future(ti.axcom_pull(task_ids="src", key=f"echo-{i}")) for i in range(200)
        ]
        await asyncio.sleep(0)  # let them start
        values, error = [], None
        t0 = time.monotonic()
        try:
            values = [Variable.get(SYNC_VAR) for _ in range(50)]
        except Exception as e:  # the documented failure mode, if any, is recorded for the test
            error = f"{type(e).__name__}: {e}"
        sync_seconds = time.monotonic() - t0
        pulled = await asyncio.gather(*in_flight)
        avalues = await asyncio.gather(*(Variable.aget(SYNC_VAR) for _ in range(50)))
        result = {
            "values": values,
            "error": error,
            "avalues": avalues,
            "pulled": pulled,
            "sync_seconds": sync_seconds,
        }
        record("sync_in_async", result)
        return {"error": error}

    s = src()
    s >> [concurrent_pulls(), sync_in_async()]
