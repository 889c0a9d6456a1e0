"""Tasks that exercise the task-process event loop, run through the real supervisor by
tests/test_task_event_loop.py. Each task records what happened in the JSON-lines file named by
FORK_TEST_EVENTS, with its task id and the id of the loop it ran on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import timedelta

from airflow.sdk import DAG, BaseAsyncOperator, task


def record(task_id: str, kind: str, **kw: object) -> None:
    with open(os.environ["FORK_TEST_EVENTS"], "a") as f:
        f.write(json.dumps({"task_id": task_id, "kind": kind, **kw}) + "\n")


def loop_id() -> int:
    return id(asyncio.get_running_loop())


async def async_execute_callback(context):
    record(context["ti"].task_id, "on_execute_callback", loop=loop_id())


async def async_success_callback(context):
    record(context["ti"].task_id, "on_success_callback", loop=loop_id())


class SameLoopOperator(BaseAsyncOperator):
    async def pre_execute(self, context):
        record(self.task_id, "pre_execute", loop=loop_id())

    async def aexecute(self, context):
        record(self.task_id, "execute", loop=loop_id())
        return "same"

    async def post_execute(self, context, result=None):
        record(self.task_id, "post_execute", loop=loop_id())


class CleanupOperator(BaseAsyncOperator):
    """Sleeps long; records cancellation, its (awaiting) cleanup and on_kill."""

    def __init__(self, *, signal_self: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.signal_self = signal_self

    async def aexecute(self, context):
        record(self.task_id, "started")
        try:
            if self.signal_self:
                os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            record(self.task_id, "cancelled")
            raise
        finally:
            await asyncio.sleep(0.05)
            record(self.task_id, "finally")
        record(self.task_id, "not_reached")

    def on_kill(self):
        record(self.task_id, "on_kill")


_keep = []

with DAG("task_event_loop", schedule=None, catchup=False):

    @task
    async def xcom_value():
        await asyncio.sleep(0.01)
        return {"answer": 42}

    xcom_value()

    SameLoopOperator(
        task_id="same_loop",
        on_execute_callback=async_execute_callback,
        on_success_callback=async_success_callback,
    )

    @task
    async def leftover():
        async def orphan_poller():
            await asyncio.sleep(3600)

        asyncio.get_running_loop().create_task(orphan_poller(), name="orphan-poller")
        await asyncio.sleep(0)
        return "ok"

    leftover()

    @task
    async def agen():
        async def numbers():
            try:
                yield 1
                yield 2
            finally:
                record("agen", "agen_finally")

        gen = numbers()
        _keep.append(gen)
        return await gen.__anext__()

    agen()

    CleanupOperator(task_id="timeout", execution_timeout=timedelta(seconds=2))
    CleanupOperator(task_id="sigterm", signal_self=True)

    @task
    async def blocking():
        await asyncio.sleep(0.05)
        time.sleep(0.2)
        await asyncio.sleep(0.05)
        return "blocked"

    blocking()

    @task
    def sync_task():
        return "sync"

    sync_task()
