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
"""Locations inside an Airflow source tree laid out like the upstream monorepo."""

from __future__ import annotations

import os
from pathlib import Path


def _looks_like_root(candidate: Path) -> bool:
    return (candidate / "airflow-core").is_dir() or (candidate / "task-sdk").is_dir()


def find_airflow_root() -> Path:
    """
    Return the monorepo root.

    Order: ``AIRFLOW_SOURCES`` env var, then the nearest parent of the current directory
    that contains ``airflow-core/`` or ``task-sdk/``, then the directory holding this package.
    """
    if env := os.environ.get("AIRFLOW_SOURCES"):
        return Path(env).resolve()
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if _looks_like_root(candidate):
            return candidate
    # src/tests_common/test_utils/paths.py -> devel-common -> repository root
    return Path(__file__).resolve().parents[4]


AIRFLOW_ROOT_PATH: Path = find_airflow_root()
AIRFLOW_CORE_SOURCES_PATH: Path = AIRFLOW_ROOT_PATH / "airflow-core" / "src"
AIRFLOW_CORE_TESTS_PATH: Path = AIRFLOW_ROOT_PATH / "airflow-core" / "tests"
AIRFLOW_TASK_SDK_SOURCES_PATH: Path = AIRFLOW_ROOT_PATH / "task-sdk" / "src"
AIRFLOW_PROVIDERS_ROOT_PATH: Path = AIRFLOW_ROOT_PATH / "providers"
