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
"""Reusable ``pytest.mark.skipif`` markers."""

from __future__ import annotations

import os
from importlib.util import find_spec

import pytest

skip_if_force_lowest_dependencies_marker = pytest.mark.skipif(
    os.environ.get("FORCE_LOWEST_DEPENDENCIES", "") == "true",
    reason="Only a subset of providers is importable when lowest dependencies are forced",
)

# Upstream only runs some tests on its ``main`` branch (they read monorepo-generated files).
# The fork's runner sets DEFAULT_BRANCH to something else to opt out.
skip_if_not_on_main = pytest.mark.skipif(
    os.environ.get("DEFAULT_BRANCH", "main") != "main",
    reason="Runs only on upstream's main branch",
)


def _module_available(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def skip_if_not_installed(module: str) -> pytest.MarkDecorator:
    """Skip when ``module`` cannot be found."""
    return pytest.mark.skipif(not _module_available(module), reason=f"{module} is not installed")
