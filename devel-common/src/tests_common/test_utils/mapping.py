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
"""Helpers for dynamic task mapping tests that need the metadata database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection

    from sqlalchemy.orm import Session

    from airflow.models.taskinstance import TaskInstance


def expand_mapped_task(
    mapped: Any, run_id: str, upstream_task_id: str, length: int, session: Session
) -> None:
    """Record that ``upstream_task_id`` produced ``length`` items and expand ``mapped`` accordingly."""
    from airflow.models.taskmap import TaskMap

    session.add(
        TaskMap(
            dag_id=mapped.dag_id,
            task_id=upstream_task_id,
            run_id=run_id,
            map_index=-1,
            length=length,
            keys=None,
        )
    )
    session.flush()
    TaskMap.expand_mapped_task(mapped, run_id, session=session)


def push_mapped_length(ti: TaskInstance, value: Collection[Any], *, session: Session) -> None:
    """
    Store what a real run of ``ti`` returning ``value`` would have left behind for a downstream expansion.

    That is both the return-value XCom, which a mapped task resolves its argument from, and the
    TaskMap row that records the length the expansion is sized by.
    """
    from airflow.models.taskmap import TaskMap
    from airflow.models.xcom import XCOM_RETURN_KEY, XComModel

    XComModel.set(
        key=XCOM_RETURN_KEY,
        value=value if isinstance(value, (list, dict)) else list(value),
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        map_index=ti.map_index,
        session=session,
    )
    session.add(TaskMap.from_task_instance_xcom(ti, value))
