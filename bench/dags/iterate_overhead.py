"""Benchmark DAGs: no-op items through ``.iterate()`` (async and threads), ``.expand()`` and a hand-written
``asyncio.gather`` task, one DAG per variant.

Run by ``./fork bench iterate`` (forktool.bench_iterate) with conf {"n": N}. The item list comes from an
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
    with open(path, "a") as f:  # one short O_APPEND write per process: mapped instances do not interleave
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
