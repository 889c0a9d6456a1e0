"""The DAG behind the docs' picture of `.iterate()` progress in the Airflow UI's log view."""

from __future__ import annotations

import asyncio

from airflow.sdk import DAG, task

with DAG("iterate_progress", schedule=None, catchup=False, default_args={"retries": 0}):

    @task
    def paths() -> list[str]:
        return [f"incoming/2025-06-01/batch-{n:04d}.xml" for n in range(2000)]

    @task(iterate_concurrency=32, iterate_progress_interval=0.5)
    async def checksum(path: str) -> int:
        await asyncio.sleep(0.06)  # stands in for a download
        return len(path)

    checksum.iterate(path=paths())
