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
"""Isolate tests from whatever plugins happen to be installed."""

from __future__ import annotations

import importlib
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any
from unittest import mock

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

# Modules whose module-level ``functools.cache``-d getters derive from the loaded plugin list.
_PLUGIN_CONSUMER_MODULES = (
    "airflow.plugins_manager",
    "airflow.sdk.plugins_manager",
    "airflow.sdk.lineage",
)


def _clear_plugin_caches() -> None:
    for name in _PLUGIN_CONSUMER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr in vars(module).values():
            clear = getattr(attr, "cache_clear", None)
            if callable(clear) and getattr(attr, "__module__", None) == name:
                clear()


@contextmanager
def mock_plugin_manager(
    plugins: Sequence[Any] | None = None,
    import_errors: dict[str, str] | None = None,
    **kwargs: Any,
) -> Iterator[None]:
    """
    Make both the core and the Task SDK plugin managers report exactly ``plugins``.

    Plugin discovery in Airflow 3.3 is a cached ``_get_plugins()`` function in each plugin
    manager, and several getters memoise values derived from it. This helper replaces the
    loader and clears those memoised getters on entry and on exit, so nothing leaks in or out.
    Extra keyword arguments are accepted for call-compatibility and ignored.
    """
    result = (list(plugins or []), dict(import_errors or {}))
    with ExitStack() as stack:
        _clear_plugin_caches()
        stack.callback(_clear_plugin_caches)
        for name in ("airflow.plugins_manager", "airflow.sdk.plugins_manager"):
            try:
                importlib.import_module(name)
            except ImportError:
                continue
            stack.enter_context(mock.patch(f"{name}._get_plugins", return_value=result))
        yield
