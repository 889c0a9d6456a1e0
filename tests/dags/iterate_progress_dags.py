"""An .iterate() DAG whose progress events the REST API test reads back (fork-owned integration tests)."""

from __future__ import annotations

from airflow.sdk import DAG, task

COUNTED = 240
WITH_FAILURES = 60

with DAG("iterate_progress_api", schedule=None, catchup=False, default_args={"retries": 0}):
    # iterate_progress_interval=0: one progress event per finished item, so the test knows every count.
    @task(iterate_concurrency=4, iterate_progress_interval=0)
    def counted(x):
        return x

    @task(iterate_concurrency=4, iterate_progress_interval=0, iterate_fail_fast=False)
    def with_failures(x):
        if x % 20 == 19:
            raise ValueError(f"item {x} is bad")
        return x

    counted.iterate(x=list(range(COUNTED)))
    with_failures.iterate(x=list(range(WITH_FAILURES)))
