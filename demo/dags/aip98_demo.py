"""The fork's demo DAG: an ``@task async def`` whose result flows through XCom to a sync task."""

from __future__ import annotations

import asyncio
import time

from airflow.sdk import dag, task


@dag(schedule=None, catchup=False, tags=["aip98", "demo"])
def aip98_demo():
    @task
    async def fetch_squares(count: int = 20) -> list[int]:
        """Twenty concurrent 'requests' of 0.2 s each: done in about 0.2 s, not 4 s."""

        async def fetch(i: int) -> int:
            await asyncio.sleep(0.2)
            return i * i

        started = time.monotonic()
        squares = list(await asyncio.gather(*(fetch(i) for i in range(count))))
        print(f"fetched {count} values concurrently in {time.monotonic() - started:.2f}s")
        return squares

    @task
    def summarize(squares: list[int]) -> dict[str, int]:
        return {"count": len(squares), "sum": sum(squares)}

    summarize(fetch_squares())


aip98_demo()
