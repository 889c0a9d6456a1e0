"""The DAG of the Progress view's screenshots (demo/screenshot_task_progress.py): an async ``.iterate()``
task over 3,000 "reports", a few of which fail, slow enough to be watched while it runs."""

from __future__ import annotations

import asyncio

from airflow.sdk import DAG, task

with DAG("fetch_reports", schedule=None, catchup=False, default_args={"retries": 0}):

    @task
    def report_ids() -> list[str]:
        return [f"report-{n:05d}.xml" for n in range(3000)]

    @task(
        iterate_concurrency=16, iterate_fail_fast=False, iterate_item_retries=1, iterate_item_retry_delay=0.1
    )
    async def fetch(report_id: str) -> int:
        number = int(report_id[7:12])
        await asyncio.sleep(0.05 + (number % 7) * 0.01)
        if number % 211 == 17:
            raise TimeoutError(f"server did not answer for {report_id} within 30 s")
        if number % 389 == 5:
            raise ValueError(f"{report_id}: not well-formed XML (line 1, column 0)")
        return number

    fetch.iterate(report_id=report_ids())
