"""Benchmark DAG: a sync no-op task, then an async no-op task, each in its own task process."""

from __future__ import annotations

from airflow.sdk import dag, task


@dag(schedule=None, catchup=False)
def noop_overhead():
    @task
    def sync_noop() -> None:
        return None

    @task
    async def async_noop() -> None:
        return None

    sync_noop() >> async_noop()


noop_overhead()
