"""One task of every kind, each sent SIGTERM by another process about 1 s into a 4 s execution (issue 11,
item 8; apache/airflow#73006). Run through the real supervisor by tests/test_sigterm.py. Every task records
what ran (started, finally, on_kill, not_reached, ...) in the JSON-lines file named by FORK_TEST_EVENTS."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time

from airflow.sdk import DAG, BaseAsyncOperator, BaseOperator, BaseSensorOperator, task

WORK_SECONDS = 4
TERM_AFTER_SECONDS = 1
_lock = threading.Lock()


def record(task_id: str, kind: str, **kw: object) -> None:
    with _lock, open(os.environ["FORK_TEST_EVENTS"], "a") as f:
        f.write(json.dumps({"task_id": task_id, "kind": kind, **kw}) + "\n")


def terminate_me_later() -> None:
    """Have another process send SIGTERM to this task process in TERM_AFTER_SECONDS, as a worker would."""
    subprocess.Popen(
        ["/bin/sh", "-c", f"sleep {TERM_AFTER_SECONDS}; kill -TERM {os.getpid()}"],
        start_new_session=True,
    )


class SleepingOperator(BaseOperator):
    """The input of the report: a plain BaseOperator whose execute sleeps 4 s."""

    def __init__(self, *, swallow: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.swallow = swallow

    def execute(self, context):
        record(self.task_id, "started")
        terminate_me_later()
        try:
            time.sleep(WORK_SECONDS)
            record(self.task_id, "not_reached")
        except BaseException as e:
            record(self.task_id, "interrupted", error=type(e).__name__)
            if not self.swallow:
                raise
        finally:
            record(self.task_id, "finally")
        return "carried on"

    def on_kill(self):
        record(self.task_id, "on_kill")


class SleepingAsyncOperator(BaseAsyncOperator):
    async def aexecute(self, context):
        record(self.task_id, "started")
        terminate_me_later()
        try:
            await asyncio.sleep(WORK_SECONDS)
            record(self.task_id, "not_reached")
        finally:
            record(self.task_id, "finally")

    def on_kill(self):
        record(self.task_id, "on_kill")


class StoppableItemOperator(BaseOperator):
    """An item of iterate_classic_threads: waits for its work, or for on_kill() to stop it."""

    def __init__(self, *, x: int, **kwargs):
        super().__init__(**kwargs)
        self.x = x
        self._killed = threading.Event()

    def execute(self, context):
        record("iterate_classic_threads", "item_started", item=self.x)
        if self.x == 0:
            terminate_me_later()
        try:
            if self._killed.wait(WORK_SECONDS):
                record("iterate_classic_threads", "item_stopped", item=self.x)
                raise RuntimeError("stopped by on_kill()")
            record("iterate_classic_threads", "item_done", item=self.x)
        finally:
            record("iterate_classic_threads", "item_finally", item=self.x)
        return self.x

    def on_kill(self):
        record("iterate_classic_threads", "item_on_kill", item=self.x)
        self._killed.set()


class SleepingAsyncItemOperator(BaseAsyncOperator):
    """An item of iterate_classic_async."""

    def __init__(self, *, x: int, **kwargs):
        super().__init__(**kwargs)
        self.x = x

    async def aexecute(self, context):
        record("iterate_classic_async", "item_started", item=self.x)
        if self.x == 0:
            terminate_me_later()
        try:
            await asyncio.sleep(WORK_SECONDS)
            record("iterate_classic_async", "item_done", item=self.x)
        finally:
            record("iterate_classic_async", "item_finally", item=self.x)
        return self.x

    def on_kill(self):
        record("iterate_classic_async", "item_on_kill", item=self.x)


class NeverReadySensor(BaseSensorOperator):
    def poke(self, context):
        if not getattr(self, "_poked", False):
            self._poked = True
            record(self.task_id, "started")
            terminate_me_later()
        return False

    def execute(self, context):
        try:
            return super().execute(context)
        finally:
            record(self.task_id, "finally")

    def on_kill(self):
        record(self.task_id, "on_kill")


with DAG("sigterm_tasks", schedule=None, catchup=False, max_active_tasks=8):
    SleepingOperator(task_id="sync_operator")
    SleepingOperator(task_id="sync_swallows", swallow=True)
    SleepingAsyncOperator(task_id="async_operator")
    NeverReadySensor(task_id="sensor_poke", mode="poke", poke_interval=0.2, timeout=60)

    @task
    def task_sync():
        record("task_sync", "started")
        terminate_me_later()
        try:
            time.sleep(WORK_SECONDS)
            record("task_sync", "not_reached")
        finally:
            record("task_sync", "finally")

    task_sync()

    @task(iterate_concurrency=2)
    def iterate_threads(x: int):
        record("iterate_threads", "item_started", item=x)
        if x == 0:
            terminate_me_later()
        try:
            time.sleep(WORK_SECONDS)
            record("iterate_threads", "item_done", item=x)
        finally:
            record("iterate_threads", "item_finally", item=x)
        return x

    iterate_threads.iterate(x=[0, 1, 2, 3])

    @task(iterate_concurrency=2)
    async def iterate_async(x: int):
        record("iterate_async", "item_started", item=x)
        if x == 0:
            terminate_me_later()
        try:
            await asyncio.sleep(WORK_SECONDS)
            record("iterate_async", "item_done", item=x)
        finally:
            record("iterate_async", "item_finally", item=x)
        return x

    iterate_async.iterate(x=[0, 1, 2, 3])

    StoppableItemOperator.partial(task_id="iterate_classic_threads", iterate_concurrency=2).iterate(
        x=[0, 1, 2, 3]
    )
    SleepingAsyncItemOperator.partial(task_id="iterate_classic_async", iterate_concurrency=2).iterate(
        x=[0, 1, 2, 3]
    )
