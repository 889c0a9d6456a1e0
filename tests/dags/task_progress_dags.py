"""DAGs whose published progress the Progress view's tests read back through the api-server and a browser."""

from __future__ import annotations

import asyncio

from airflow.sdk import DAG, get_task_progress, task

ITEMS = 2000
CONCURRENCY = 8


def is_bad(x: int) -> bool:
    return x % 97 == 13


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("this object has no repr")


with DAG(
    "task_progress_view",
    schedule=None,
    catchup=False,
    default_args={"retries": 0},
    params={"sleep": 0.02},
):
    # 2,000 async items, some failing, slow enough (sleep per item, from the run's conf) to be watched.
    @task(iterate_concurrency=CONCURRENCY, iterate_fail_fast=False)
    async def many_items(x, params):
        await asyncio.sleep(float(params["sleep"]))
        if is_bad(x):
            raise ValueError(f"item {x} is bad")
        return x

    many_items.iterate(x=list(range(ITEMS)))

    # Any task can publish through the public progress API; mapped: one snapshot per map index.
    @task
    def by_hand(n):
        progress = get_task_progress(total=n)
        for _ in range(n):
            progress.advance()
        progress.set_counters(bytes=n * 1024, bytes_total=n * 1024)
        progress.finish(status="success")

    by_hand.expand(n=[3, 5])

    @task
    def no_progress():
        return 1

    @task
    def zero_total():
        get_task_progress(total=0).finish(status="success")

    @task
    def unprintable_input():
        progress = get_task_progress(total=1)
        progress.add_failure(index=0, input=Unprintable(), error_type="ValueError", error="bad input")
        progress.advance(0, failed=1)
        progress.finish(status="success")

    @task
    def negative_count():
        get_task_progress(total=3).advance(-1)

    no_progress()
    zero_total()
    unprintable_input()
    negative_count()
