"""DAGs run by the fork's integration tests through the real supervisor."""

from __future__ import annotations

import asyncio
import os

from airflow.sdk import dag, task


@dag(schedule=None, catchup=False)
def supervised_basics():
    @task
    async def async_value() -> dict[str, int]:
        await asyncio.sleep(0.05)
        return {"pid": os.getpid(), "value": 42}

    @task
    def sync_check(result: dict[str, int]) -> int:
        assert result["pid"] != os.getpid(), "each task instance runs in its own process"
        return result["value"] + 1

    sync_check(async_value())


supervised_basics()
