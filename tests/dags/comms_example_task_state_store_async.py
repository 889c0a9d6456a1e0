"""Upstream's example_task_state_store_async Dag, as shipped in the installed Airflow, served from
this folder so the real supervisor runs it (tests/comms/test_comms_accessors.py). Only the retry delay
is shortened and an execution timeout added; the Dag itself is upstream's, imported, not copied."""

from __future__ import annotations

from datetime import timedelta

from airflow.example_dags.example_task_state_store_async import dag

dag.fileloc = __file__  # the task process parses this file from the Dag bundle
for _task in dag.tasks:
    _task.retry_delay = timedelta(seconds=1)
    _task.execution_timeout = timedelta(seconds=60)
