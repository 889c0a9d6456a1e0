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
"""Small operators and operator links for tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseOperatorLink

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context
    from airflow.sdk.execution_time.xcom import TaskInstanceKey


class MockOperator(BaseOperator):
    """Do-nothing operator with two templated arguments."""

    template_fields: Sequence[str] = ("arg1", "arg2")

    def __init__(self, arg1: Any = "", arg2: Any = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arg1 = arg1
        self.arg2 = arg2

    def execute(self, context: Context) -> None:
        return None


class AirflowLink(BaseOperatorLink):
    """Static link to the Airflow website."""

    name = "airflow"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return "https://airflow.apache.org"


class GithubLink(BaseOperatorLink):
    """Static link to the Airflow GitHub repository."""

    name = "github"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return "https://github.com/apache/airflow"


class EmptyExtraLinkTestOperator(BaseOperator):
    """Operator carrying :class:`AirflowLink` as its own extra link."""

    operator_extra_links = (AirflowLink(),)


class EmptyNoExtraLinkTestOperator(BaseOperator):
    """Operator with no extra links of its own."""

    operator_extra_links = ()
