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
"""Support for upstream "system test" example dags (only imported, not run, by the fork)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import DAG


def get_test_run(dag: DAG) -> Callable[[], None]:
    """
    Return a pytest-collectable function that runs ``dag`` with ``dag.test()``.

    The run must finish with every task successful; the ``watcher`` task (if present)
    turns any upstream failure into a failed run.
    """

    def test_run() -> None:
        from airflow.utils.state import DagRunState

        dag.on_success_callback = None
        dag.on_failure_callback = None
        dag_run = dag.test()
        if dag_run is None or dag_run.state != DagRunState.SUCCESS:
            state = None if dag_run is None else dag_run.state
            raise AssertionError(f"Dag {dag.dag_id!r} finished in state {state!r}; see the task logs")

    test_run.__name__ = f"test_{dag.dag_id}"
    return test_run
