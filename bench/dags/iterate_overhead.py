"""Benchmark DAGs: no-op items through ``.iterate()`` (async and threads), ``.expand()`` and hand-written
``asyncio.gather`` and ``ThreadPoolExecutor.map`` tasks, one DAG per variant.

Run by ``./fork bench iterate`` (forktool.bench.iterate) with conf {"n": N}. The item list comes from an
upstream task's XCom, as it would in production. The item concurrency of ``.iterate()`` and of the gather
task is read at parse time from $FORK_BENCH_CONCURRENCY (default 16, ``.iterate()``'s default). After
the measured task succeeds, its process appends {"dag_id", "map_index", "maxrss_kb"} (its peak RSS,
``getrusage(RUSAGE_SELF)``) as a JSON line to $FORK_BENCH_RESULT.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from airflow.sdk import DAG, task

CONCURRENCY = int(os.environ.get("FORK_BENCH_CONCURRENCY", "16"))


def record_peak_rss(context) -> None:
    """on_success_callback: runs in the task process after the task; records its peak RSS."""
    path = os.environ.get("FORK_BENCH_RESULT")
    if not path:
        return
    ti = context["ti"]
    line = json.dumps(
        {
            "dag_id": ti.dag_id,
            "map_index": ti.map_index,
            "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    )
    with open(
        path, "a"
    ) as f:  # one short O_APPEND write per process: mapped instances do not interleave
        f.write(line + "\n")


def items_task():
    @task
    def items(dag_run=None) -> list[int]:
        return list(range(int((dag_run.conf or {}).get("n", 1000))))

    return items()


ARGS = {"retries": 0}

with DAG("iterate_overhead_async", schedule=None, catchup=False, default_args=ARGS):

    @task(iterate_concurrency=CONCURRENCY, on_success_callback=record_peak_rss)
    async def noop(x: int) -> None:
        return None

    noop.iterate(x=items_task())

with DAG("iterate_overhead_threads", schedule=None, catchup=False, default_args=ARGS):

    @task(iterate_concurrency=CONCURRENCY, on_success_callback=record_peak_rss)
    def noop(x: int) -> None:
        return None

    noop.iterate(x=items_task())

with DAG("iterate_overhead_expand", schedule=None, catchup=False, default_args=ARGS):

    @task(on_success_callback=record_peak_rss)
    def noop(x: int) -> None:
        return None

    noop.expand(x=items_task())

with DAG(
    "iterate_overhead_threadpool", schedule=None, catchup=False, default_args=ARGS
):

    @task(on_success_callback=record_peak_rss)
    def noop(xs: list[int]) -> list[None]:
        """What one writes by hand without ``.iterate()`` for sync code: ThreadPoolExecutor.map."""

        def one(x: int) -> None:
            return None

        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            return list(pool.map(one, xs))

    noop(items_task())

with DAG("iterate_overhead_gather", schedule=None, catchup=False, default_args=ARGS):

    @task(on_success_callback=record_peak_rss)
    async def noop(xs: list[int]) -> list[None]:
        """What one writes by hand without ``.iterate()``: a semaphore and asyncio.gather."""
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(x: int) -> None:
            async with sem:
                return None

        return await asyncio.gather(*(one(x) for x in xs))

    noop(items_task())


# -- checkpoints: requests per 1,000 items and resume time (forktool.bench.iterate.measure_checkpoints) --


def item_seconds(x: int) -> float:
    """80-180 ms, fixed per item: the workload of the checkpoint faults reported in issue 11."""
    return 0.08 + (x * 7919 % 101) / 1000


with DAG("iterate_checkpoint_slow", schedule=None, catchup=False, default_args=ARGS):

    @task(iterate_concurrency=CONCURRENCY)
    async def noop(x: int) -> int:
        await asyncio.sleep(item_seconds(x))
        return x

    noop.iterate(x=items_task())

with DAG(
    "iterate_checkpoint_resume",
    schedule=None,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
):

    @task(iterate_concurrency=CONCURRENCY)
    async def noop(x: int, ti=None, dag_run=None) -> int:
        # The first try fails on the last item: the others are checkpointed when it fails, and the
        # second try resumes them all (its log's "Resuming" event says how long reading them took).
        if ti.try_number == 1 and x == int((dag_run.conf or {}).get("n", 1000)) - 1:
            raise RuntimeError("fail the first try after every other item finished")
        return x

    noop.iterate(x=items_task())
