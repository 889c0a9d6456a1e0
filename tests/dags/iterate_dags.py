"""DAGs exercising .iterate() through the real supervisor (fork-owned integration tests)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from datetime import timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, get_current_context, task

N = 1000
_lock = threading.Lock()
_state = {"active": 0, "peak": 0}


def record(**event):
    path = os.environ.get("FORK_TEST_EVENTS")
    if not path:
        return
    ctx = get_current_context()
    event.setdefault("task_id", ctx["ti"].task_id)
    event.setdefault("try", ctx["ti"].try_number)
    with _lock, open(path, "a") as f:
        f.write(json.dumps(event) + "\n")


class Gauge:
    def __enter__(self):
        with _lock:
            _state["active"] += 1
            if _state["active"] > _state["peak"]:
                _state["peak"] = _state["active"]

    def __exit__(self, *exc):
        with _lock:
            _state["active"] -= 1


def square(x, y=0):
    return x * x + y


with DAG("iterate_e2e", schedule=None, catchup=False, default_args={"retries": 0}):

    @task
    def numbers():
        return list(range(N))

    @task(iterate_concurrency=16, iterate_progress_interval=0.2)
    def sync_sq(x):
        with Gauge():
            time.sleep(0.002)
            record(kind="peak", peak=_state["peak"]) if x == N - 1 else None
            return square(x)

    @task(iterate_concurrency=16, iterate_progress_interval=0.2)
    async def async_sq(x):
        with Gauge():
            await asyncio.sleep(0.002)
            if x == N - 1:
                record(kind="peak", peak=_state["peak"])
            return square(x)

    @task
    def small(x, y):
        return square(x, y)

    @task
    def async_small(x, y):
        return square(x, y)

    nums = numbers()
    s = sync_sq.iterate(x=nums)
    a = async_sq.iterate(x=nums)
    # Product input: iterate and expand over the same 8 x 5 input must give the same list.
    it_ref = small.override(task_id="iter_product").iterate(x=list(range(8)), y=[10, 20, 30, 40, 50])
    ex_ref = small.override(task_id="expand_product").expand(x=list(range(8)), y=[10, 20, 30, 40, 50])

    classic_bash = BashOperator.partial(task_id="classic_bash").iterate(
        bash_command=["echo alpha", "echo beta", "echo {{ ti.task_id }}"]
    )

    async def py_async(x):
        await asyncio.sleep(0)
        return x + 100

    classic_py = PythonOperator.partial(task_id="classic_python", python_callable=py_async).iterate(
        op_kwargs=[{"x": 1}, {"x": 2}, {"x": 3}]
    )

    @task
    def collect(ti=None):
        keys = ["sync_sq", "async_sq", "iter_product", "expand_product", "classic_bash", "classic_python"]
        out = {k: ti.xcom_pull(task_ids=k) for k in keys}
        out["expand_product"] = list(out["expand_product"])
        out["summary_sync"] = ti.xcom_pull(task_ids="sync_sq", key="iterate_summary")
        record(kind="results", results=out)

    [s, a, it_ref, ex_ref, classic_bash, classic_py] >> collect()


with DAG("iterate_errors", schedule=None, catchup=False, default_args={"retries": 0}):

    @task(iterate_concurrency=2)
    def fail_fast(x):
        record(kind="started", x=x)
        if x == 10:
            raise ValueError(f"bad item {x}")
        time.sleep(0.01)
        return x

    @task(iterate_concurrency=8, iterate_fail_fast=False)
    def collect_all(x):
        if x % 50 == 7:
            raise KeyError(f"missing {x}")
        return x

    @task(iterate_concurrency=4, iterate_item_retries=2, iterate_item_retry_delay=0.01)
    def flaky(x):
        record(kind="attempt", x=x)
        with _lock:
            _state.setdefault(x, 0)
            _state[x] += 1
            n = _state[x]
        if x % 3 == 0 and n < 3:
            raise RuntimeError("flaky")
        return x

    @task(trigger_rule="all_done")
    def report(ti=None):
        record(
            kind="summaries",
            fail_fast=ti.xcom_pull(task_ids="fail_fast", key="iterate_summary"),
            collect_all=ti.xcom_pull(task_ids="collect_all", key="iterate_summary"),
            flaky=ti.xcom_pull(task_ids="flaky"),
        )

    [
        fail_fast.iterate(x=list(range(100))),
        collect_all.iterate(x=list(range(200))),
        flaky.iterate(x=list(range(12))),
    ] >> report()


with DAG(
    "iterate_resume",
    schedule=None,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
):

    @task(iterate_concurrency=16, iterate_checkpoint_interval=0.2, iterate_progress_interval=0.5)
    def resumable(x, ti=None):
        if ti.try_number == 1 and x >= 500:
            if x == 500:
                time.sleep(2)  # let the checkpoint writer flush the first 500 items
                record(kind="killing", x=x)
                os.kill(os.getpid(), signal.SIGKILL)
            threading.Event().wait()  # items >= 500 never finish in the first attempt
        record(kind="ran", x=x)
        return {"x": x, "sq": x * x}

    @task
    def check(ti=None):
        record(kind="results", results=ti.xcom_pull(task_ids="resumable"))

    resumable.iterate(x=list(range(N))) >> check()


with DAG("iterate_introspect", schedule=None, catchup=False, default_args={"retries": 0}):

    @task(iterate_concurrency=3)
    async def parked(x):
        if x == 0:
            # Ask the task runner's SIGUSR2 handler for a dump while the three items are parked.
            threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGUSR2)).start()
        await asyncio.sleep(2)
        return x

    parked.iterate(x=[0, 1, 2])


# -- checkpoints under faults (issue 11: 2,000 items of 80-180 ms, concurrency 16) ---------------------

CHECKPOINT_ITEMS = 2000
_finished = {"n": 0}


def item_seconds(x: int) -> float:
    """80-180 ms, fixed per item, so that every attempt sees the same work."""
    return 0.08 + (x * 7919 % 101) / 1000


async def checkpointed_item(x: int, kill_at: int | None) -> int:
    await asyncio.sleep(item_seconds(x))
    ti = get_current_context()["ti"]
    if kill_at is not None and ti.try_number == 1:
        with _lock:
            _finished["n"] += 1
            kill = _finished["n"] == kill_at
        if kill:
            # The task process dies as under the OOM killer: no finally, no flush.
            record(kind="killed", t=time.time())
            os.kill(os.getpid(), signal.SIGKILL)
    record(kind="finished", x=x, t=time.time())
    return x * 2


with DAG(
    "iterate_kill_resume",
    schedule=None,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
):

    @task(iterate_concurrency=16, iterate_progress_interval=1)
    async def killed_at_half(x):
        return await checkpointed_item(x, kill_at=CHECKPOINT_ITEMS // 2)

    @task
    def kill_result(ti=None):
        record(kind="results", results=ti.xcom_pull(task_ids="killed_at_half"))

    killed_at_half.iterate(x=list(range(CHECKPOINT_ITEMS))) >> kill_result()


with DAG(
    "iterate_timeout_converges",
    schedule=None,
    catchup=False,
    # As reported: execution_timeout 9-14 s on a DAG of ~16 s of items, 3 tries.
    default_args={"retries": 2, "retry_delay": timedelta(seconds=0)},
):

    @task(iterate_concurrency=16, iterate_progress_interval=1, execution_timeout=timedelta(seconds=10))
    async def timed_out(x):
        return await checkpointed_item(x, kill_at=None)

    @task
    def timeout_result(ti=None):
        record(kind="results", results=ti.xcom_pull(task_ids="timed_out"))

    timed_out.iterate(x=list(range(CHECKPOINT_ITEMS))) >> timeout_result()


with DAG(
    "iterate_slow_cleanup",
    schedule=None,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
):
    # Run with [workers] state_store_backend = iterate_slow_state_store.SlowDeleteStateStore (tests/plugins)
    # and deletes of 4 s: deleting the manifest and the chunk takes longer than execution_timeout.

    @task(
        iterate_concurrency=16,
        iterate_checkpoint_interval=0.2,
        execution_timeout=timedelta(seconds=6),
    )
    async def slow_cleanup(x):
        await asyncio.sleep(0.01)
        record(kind="finished", x=x, t=time.time())
        return x * 2

    slow_cleanup.iterate(x=list(range(300)))
