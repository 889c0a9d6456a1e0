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
Run and inspect scheduler-side ``TaskInstance`` rows in DB-backed provider tests.

Since Airflow 3.2 a ``TaskInstance`` no longer runs itself; these helpers bridge the gap by
pairing the ORM row with the SDK operator and driving the in-process test supervisor.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from airflow.models.taskinstance import TaskInstance
from tests_common.test_utils.compat import (
    SerializedBaseOperator,
    SerializedMappedOperator,
    create_scheduler_operator,
)
from tests_common.test_utils.dag import create_scheduler_dag

if TYPE_CHECKING:
    from uuid import UUID

    from jinja2 import Environment
    from sqlalchemy.orm import Session

    from airflow.sdk import Context
    from airflow.sdk.types import Operator as SdkOperator, RuntimeTaskInstanceProtocol

__all__ = [
    "TaskInstanceWrapper",
    "create_task_instance",
    "get_template_context",
    "render_template_fields",
    "run_task_instance",
]

_TI = "_wrapped_ti"
_TASK = "_wrapped_task"


class TaskInstanceWrapper:
    """
    Proxy for a ``TaskInstance`` that remembers the SDK task it belongs to.

    Attribute access is forwarded to the ORM object; ``run()``, ``render_templates()`` and
    ``get_template_context()`` use the SDK task, as the old ``TaskInstance`` methods did.
    """

    def __init__(self, ti: TaskInstance, task: SdkOperator) -> None:
        object.__setattr__(self, _TI, ti)
        object.__setattr__(self, _TASK, task)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, _TI), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, _TI), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(object.__getattribute__(self, _TI), name)

    def __copy__(self) -> TaskInstanceWrapper:
        return TaskInstanceWrapper(copy.copy(self._ti), copy.copy(self._task))

    def __repr__(self) -> str:
        return f"TaskInstanceWrapper({self._ti!r})"

    @property
    def _ti(self) -> TaskInstance:
        return object.__getattribute__(self, _TI)

    @property
    def _task(self) -> SdkOperator:
        return object.__getattribute__(self, _TASK)

    def run(self, **kwargs: Any) -> RuntimeTaskInstanceProtocol | TaskInstance:
        return run_task_instance(self._ti, self._task, **kwargs)

    def render_templates(self, **kwargs: Any) -> SdkOperator:
        return render_template_fields(self._ti, self._task, **kwargs)

    def get_template_context(self) -> Context:
        return get_template_context(self._ti, self._task)


def create_task_instance(
    task: Any,
    *,
    dag_version_id: UUID,
    run_id: str | None = None,
    state: str | None = None,
    map_index: int = -1,
    ti_type: type[TaskInstance] = TaskInstance,
) -> TaskInstance:
    """Build (but do not persist) a ``TaskInstance`` for an SDK or already-serialized task."""
    if isinstance(task, (SerializedBaseOperator, SerializedMappedOperator)):
        scheduler_task = task
    elif (sdk_dag := task.get_dag()) is not None:
        scheduler_task = create_scheduler_dag(sdk_dag).get_task(task.task_id)
    else:
        scheduler_task = create_scheduler_operator(task)
    return ti_type(
        scheduler_task,
        dag_version_id=dag_version_id,
        run_id=run_id,
        state=state,
        map_index=map_index,
    )


def run_task_instance(
    ti: TaskInstance,
    task: SdkOperator,
    *,
    ignore_depends_on_past: bool = False,
    ignore_task_deps: bool = False,
    ignore_ti_state: bool = False,
    mark_success: bool = False,
    session: Session | None = None,
) -> RuntimeTaskInstanceProtocol | TaskInstance:
    """
    Check dependencies for ``ti`` and, if they pass, execute ``task`` in-process for it.

    Errors raised by the task are re-raised here. The ORM ``ti`` is refreshed afterwards
    so that tests can assert on its final state.
    """
    from airflow.sdk.definitions.dag import _run_task

    session_kw: dict[str, Any] = {"session": session} if session is not None else {}
    if not ti.check_and_change_state_before_execution(
        ignore_depends_on_past=ignore_depends_on_past,
        ignore_task_deps=ignore_task_deps,
        ignore_ti_state=ignore_ti_state,
        mark_success=mark_success,
        **session_kw,
    ):
        return ti

    # Load a fresh copy from the DB: the caller's object may be bound to another session.
    persisted = TaskInstance.get_task_instance(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        **session_kw,
    )
    outcome = _run_task(ti=persisted or ti, task=task)
    ti.refresh_from_db(**session_kw)
    if outcome is None:
        raise RuntimeError("Task run finished without a result")
    if outcome.error is not None:
        raise outcome.error
    return outcome.ti


def get_template_context(ti: TaskInstance, task: SdkOperator, *, session: Session | None = None) -> Context:
    """Build the template context the task would see at runtime, without the Execution API."""
    from airflow.cli.commands.task_command import _get_template_context
    from airflow.utils.context import ConnectionAccessor, VariableAccessor

    context = _get_template_context(ti, task)
    # Route XCom calls straight to the ORM object instead of through the Execution API.
    context["ti"].__dict__.update(xcom_push=ti.xcom_push, xcom_pull=ti.xcom_pull)
    extra: dict[str, Any] = {
        "conn": ConnectionAccessor(),
        "test_mode": ti.test_mode,
        "var": {
            "json": VariableAccessor(deserialize_json=True),
            "value": VariableAccessor(deserialize_json=False),
        },
    }
    context.update(extra)  # type: ignore[typeddict-item]
    return context


def render_template_fields(
    ti: TaskInstance,
    task: SdkOperator,
    *,
    context: Context | None = None,
    jinja_env: Environment | None = None,
    session: Session | None = None,
) -> SdkOperator:
    """Render ``task``'s templated fields in place and return it."""
    task.render_template_fields(context or get_template_context(ti, task), jinja_env)
    return task
