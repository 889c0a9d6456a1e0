# Licensed to the Apache Software Foundation (ASF) under one
# or more contributor license agreements.  See the NOTICE file
# distributed with this work for additional information
# regarding copyright ownership.  The ASF licenses this file
# to you under the Apache License, Version 2.0 (the
# "License"); you may not use this file except in compliance
# with the License.  You may obtain a copy of the License at
#
#   http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing,
# software distributed under the License is distributed on an
# "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
# KIND, either express or implied.  See the License for the
# specific language governing permissions and limitations
# under the License.
"""
Execute a task through the real in-process supervisor, without a metadata database.

Operators that start a child interpreter which talks back to the supervisor over a socket
(virtualenv / external-python operators) cannot run under the fully mocked ``run_task``
fixture. Here the Task SDK's ``InProcessTestSupervisor`` provides the real socket pair, and
the Execution API is a dry-run ``Client`` whose transport answers from memory: the
"task starts" call returns the run context the test built, and XCom writes are kept in a
dict so that tests can read back what the task pushed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk.api.client import Client
    from airflow.sdk.execution_time.supervisor import TaskRunResult
    from airflow.sdk.types import Operator

XComStore = dict[tuple[str, str, str, str], Any]


def _make_handler(store: XComStore, run_context: bytes) -> Callable[[httpx.Request], httpx.Response]:
    from airflow.sdk.api.client import noop_handler

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/task-instances/") and path.endswith("/run"):
            return httpx.Response(200, content=run_context, headers={"content-type": "application/json"})
        segments = path.strip("/").split("/")
        if len(segments) == 5 and segments[0] == "xcoms":
            ident = (segments[1], segments[2], segments[3], segments[4])
            if request.method == "POST":
                store[ident] = json.loads(request.content)
                return httpx.Response(201, json={"ok": True})
            if request.method == "GET":
                if ident in store:
                    return httpx.Response(200, json={"key": ident[3], "value": store[ident]})
                return httpx.Response(404, json={"detail": {"reason": "not_found"}})
        return noop_handler(request)

    return handle


def build_in_memory_client(ti_context: Any) -> Client:
    """Return a dry-run Execution API client that remembers XCom writes in ``client.pushed_xcoms``."""
    from airflow.sdk.api.client import Client

    store: XComStore = {}
    client = Client(
        base_url=None,
        dry_run=True,
        token="",
        transport=httpx.MockTransport(_make_handler(store, ti_context.model_dump_json().encode())),
    )
    client.pushed_xcoms = store  # type: ignore[attr-defined]
    return client


def pushed_xcom(xcoms: XComStore, ti: Any, key: str = "return_value") -> Any:
    """Return the value ``ti`` pushed under ``key`` during :func:`run_task_no_db`, or ``None``."""
    return xcoms.get((ti.dag_id, ti.run_id, ti.task_id, key))


def run_task_no_db(
    task: Operator,
    create_runtime_ti: Callable[..., Any],
    *,
    logical_date: Any | None = None,
) -> tuple[TaskRunResult, XComStore]:
    """
    Run ``task`` through ``InProcessTestSupervisor`` with an in-memory Execution API.

    :param create_runtime_ti: the ``create_runtime_ti`` fixture, used to build the run context.
    :return: the supervisor's ``TaskRunResult`` and the XComs the task pushed.
    """
    from uuid6 import uuid7

    from airflow.sdk.api.datamodels._generated import TaskInstance as TaskInstanceDTO
    from airflow.sdk.execution_time.supervisor import run_task_in_process

    extra: dict[str, Any] = {} if logical_date is None else {"logical_date": logical_date}
    runtime_ti = create_runtime_ti(task, **extra)
    # Hand the supervisor a plain DTO: it serialises ``what`` and the runtime TI carries the operator.
    what = TaskInstanceDTO(
        id=runtime_ti.id,
        task_id=runtime_ti.task_id,
        dag_id=runtime_ti.dag_id,
        run_id=runtime_ti.run_id,
        try_number=runtime_ti.try_number,
        map_index=runtime_ti.map_index,
        dag_version_id=uuid7(),
    )
    client = build_in_memory_client(runtime_ti._ti_context_from_server)
    result = run_task_in_process(what, task, client=client)
    return result, client.pushed_xcoms  # type: ignore[attr-defined]
