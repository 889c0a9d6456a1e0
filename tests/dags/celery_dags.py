"""DAGs of the Celery tests (tests/celery/): an async task a worker's warm shutdown interrupts, and an
``.iterate()`` task whose worker is killed half way. They record what happened, one JSON line per event,
in the file named by FORK_TEST_EVENTS (set in the workers' environment by the test stack)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import timedelta

from airflow.sdk import DAG, BaseAsyncOperator, task

ITEMS = 2000


def record(task_id: str, kind: str, **kw: object) -> None:
    with open(os.environ["FORK_TEST_EVENTS"], "a") as f:
        f.write(json.dumps({"task_id": task_id, "kind": kind, "time": time.time(), **kw}) + "\n")


class LongCleanupOperator(BaseAsyncOperator):
    """Sleeps `seconds`; records its pid, cancellation, its (awaiting) cleanup and on_kill."""

    def __init__(self, *, seconds: float, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds

    async def aexecute(self, context):
        record(self.task_id, "started", pid=os.getpid(), try_number=context["ti"].try_number)
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            record(self.task_id, "cancelled")
            raise
        finally:
            await asyncio.sleep(0.05)
            record(self.task_id, "finally")
        record(self.task_id, "completed")
        return "slept"

    def on_kill(self):
        record(self.task_id, "on_kill")


with DAG("celery_warm_shutdown", schedule=None, catchup=False, default_args={"retries": 0}):
    LongCleanupOperator(task_id="long_sleep", seconds=8)

with DAG("celery_group_sigterm", schedule=None, catchup=False, default_args={"retries": 0}):
    LongCleanupOperator(task_id="long_sleep", seconds=300)


with DAG(
    "celery_iterate_resume",
    schedule=None,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
):

    @task(iterate_concurrency=4, iterate_checkpoint_interval=0.2, iterate_progress_interval=1)
    async def resumable(x, ti=None):
        if x == 0:
            record("resumable", "pid", pid=os.getpid(), try_number=ti.try_number)
        await asyncio.sleep(0.01)
        record("resumable", "ran", x=x, try_number=ti.try_number)
        return {"x": x, "sq": x * x}

    resumable.iterate(x=list(range(ITEMS)))
