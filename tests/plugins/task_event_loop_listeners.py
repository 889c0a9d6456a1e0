"""Listeners for tests/test_task_event_loop.py: they record the task event loop hooks."""

from __future__ import annotations

import asyncio
import json
import os

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin


def _record(task_id: str, kind: str, **kw: object) -> None:
    path = os.environ.get("FORK_TEST_EVENTS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"task_id": task_id, "kind": kind, **kw}) + "\n")


class LoopListener:
    @hookimpl
    def on_task_event_loop_start(self, loop, ti):
        _record(ti.task_id, "listener_start", loop=id(loop), running=loop.is_running())

    @hookimpl
    def on_task_event_loop_end(self, loop, ti):
        _record(ti.task_id, "listener_end", loop=id(loop), closed=loop.is_closed())


class AsyncListener:
    """An async listener: enabled by FORK_TEST_ASYNC_LISTENER (it makes every task create a loop)."""

    @hookimpl
    async def on_task_instance_success(self, previous_state, task_instance):
        _record(task_instance.task_id, "async_listener_success", loop=id(asyncio.get_running_loop()))


class TaskEventLoopListenersPlugin(AirflowPlugin):
    name = "task_event_loop_listeners"
    listeners = [LoopListener()] + ([AsyncListener()] if os.environ.get("FORK_TEST_ASYNC_LISTENER") else [])
