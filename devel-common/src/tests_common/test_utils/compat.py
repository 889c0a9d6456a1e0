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
One import location for names whose home moved between Airflow releases.

Only the Airflow 3.x layouts the fork cares about are handled. Database model classes are
resolved lazily (module ``__getattr__``) so that importing this module from DB-free suites,
such as the Task SDK tests, does not pull in the ORM.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import BaseOperatorLink, Context, TriggerRule, timezone
from airflow.serialization.definitions.baseoperator import SerializedBaseOperator
from airflow.serialization.definitions.dag import SerializedDAG
from airflow.serialization.definitions.mappedoperator import SerializedMappedOperator
from airflow.serialization.serialized_objects import (
    DagSerialization,
    OperatorSerialization,
    create_scheduler_operator,
)

if TYPE_CHECKING:
    from airflow.models.asset import (
        AssetAliasModel,
        AssetDagRunQueue,
        AssetEvent,
        AssetModel,
        DagScheduleAssetAliasReference,
        DagScheduleAssetReference,
        TaskOutletAssetReference,
    )
    from airflow.models.errors import ParseImportError

_LAZY: dict[str, str] = {
    "AssetAliasModel": "airflow.models.asset",
    "AssetDagRunQueue": "airflow.models.asset",
    "AssetEvent": "airflow.models.asset",
    "AssetModel": "airflow.models.asset",
    "DagScheduleAssetAliasReference": "airflow.models.asset",
    "DagScheduleAssetReference": "airflow.models.asset",
    "TaskOutletAssetReference": "airflow.models.asset",
    "ParseImportError": "airflow.models.errors",
}


def __getattr__(name: str) -> Any:
    if module := _LAZY.get(name):
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AssetAliasModel",
    "AssetDagRunQueue",
    "AssetEvent",
    "AssetModel",
    "BaseOperatorLink",
    "BashOperator",
    "Context",
    "DagScheduleAssetAliasReference",
    "DagScheduleAssetReference",
    "DagSerialization",
    "EmptyOperator",
    "OperatorSerialization",
    "ParseImportError",
    "PythonOperator",
    "SerializedBaseOperator",
    "SerializedDAG",
    "SerializedMappedOperator",
    "TaskOutletAssetReference",
    "TriggerRule",
    "create_scheduler_operator",
    "timezone",
]
