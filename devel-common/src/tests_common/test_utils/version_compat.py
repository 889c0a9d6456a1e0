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
Airflow version switches used by the upstream test suites.

The flags are computed from the *installed* ``airflow`` distribution, so the same
suites can be run against the fork's pinned base as well as a patched tree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING


def _version_tuple(raw: str) -> tuple[int, int, int]:
    from packaging.version import Version

    parsed = Version(raw)
    return parsed.major, parsed.minor, parsed.micro


def get_base_airflow_version_tuple() -> tuple[int, int, int]:
    """Return ``(major, minor, micro)`` of the installed Airflow, ignoring pre/dev/local parts."""
    from airflow import __version__

    return _version_tuple(__version__)


_AF = get_base_airflow_version_tuple()

AIRFLOW_V_3_0_1 = _AF == (3, 0, 1)
AIRFLOW_V_3_0_PLUS = _AF >= (3, 0, 0)
AIRFLOW_V_3_0_3_PLUS = _AF >= (3, 0, 3)
AIRFLOW_V_3_1_PLUS = _AF >= (3, 1, 0)
AIRFLOW_V_3_1_3_PLUS = _AF >= (3, 1, 3)
AIRFLOW_V_3_2_PLUS = _AF >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS = _AF >= (3, 3, 0)
AIRFLOW_V_3_4_PLUS = _AF >= (3, 4, 0)


def get_sqlalchemy_version_tuple() -> tuple[int, int, int]:
    import sqlalchemy

    return _version_tuple(sqlalchemy.__version__)


SQLALCHEMY_V_1_4 = (1, 4, 0) <= get_sqlalchemy_version_tuple() < (2, 0, 0)
SQLALCHEMY_V_2_0 = (2, 0, 0) <= get_sqlalchemy_version_tuple() < (2, 1, 0)

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, PokeReturnValue, timezone
    from airflow.sdk.bases.xcom import BaseXCom
    from airflow.sdk.definitions._internal.decorators import remove_task_decorator
    from airflow.sdk.definitions._internal.types import NOTSET, ArgNotSet
else:
    from airflow.sdk import BaseOperator, PokeReturnValue, timezone
    from airflow.sdk.bases.xcom import BaseXCom

    try:
        from airflow.sdk.definitions._internal.decorators import remove_task_decorator
    except ImportError:  # older SDK layouts
        from airflow.utils.decorators import remove_task_decorator
    from airflow.sdk.definitions._internal.types import NOTSET, ArgNotSet

XCOM_RETURN_KEY: str = BaseXCom.XCOM_RETURN_KEY

__all__ = [
    "AIRFLOW_V_3_0_1",
    "AIRFLOW_V_3_0_3_PLUS",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_3_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AIRFLOW_V_3_4_PLUS",
    "NOTSET",
    "SQLALCHEMY_V_1_4",
    "SQLALCHEMY_V_2_0",
    "XCOM_RETURN_KEY",
    "ArgNotSet",
    "BaseOperator",
    "PokeReturnValue",
    "get_base_airflow_version_tuple",
    "remove_task_decorator",
    "timezone",
]
