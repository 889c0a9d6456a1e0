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
"""Helpers to temporarily change Airflow configuration in tests."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from airflow.configuration import AirflowConfigParser
    from airflow.sdk.configuration import AirflowSDKConfigParser

# (section, option, value) - options whose default comes from provider metadata (provider.yaml).
PROVIDER_METADATA_CONFIG_OPTIONS: list[tuple[str, str, str]] = [
    ("celery", "celery_app_name", "airflow.providers.celery.executors.celery_executor"),
    ("celery", "worker_enable_remote_control", "true"),
    ("celery", "task_acks_late", "True"),
    ("kubernetes_executor", "namespace", "default"),
    ("kubernetes_executor", "delete_worker_pods", "True"),
    ("celery_kubernetes_executor", "kubernetes_queue", "kubernetes"),
]

# (section, option, value) - options that only exist in provider_config_fallback_defaults.cfg.
CFG_FALLBACK_CONFIG_OPTIONS: list[tuple[str, str, str]] = [
    ("celery", "flower_host", "0.0.0.0"),
    ("celery", "pool", "prefork"),
    ("celery", "worker_precheck", "False"),
    ("kubernetes_executor", "in_cluster", "True"),
    ("kubernetes_executor", "verify_ssl", "True"),
    ("elasticsearch", "end_of_log_mark", "end_of_log"),
]

# (section, option, provider metadata value, cfg fallback value) - where the two sources disagree.
PROVIDER_METADATA_OVERRIDES_CFG_FALLBACK: list[tuple[str, str, str, str]] = [
    (
        "celery",
        "celery_app_name",
        "airflow.providers.celery.executors.celery_executor",
        "airflow.executors.celery_executor",
    ),
]


def _loaded_parsers() -> list[Any]:
    """Config singletons that are already imported (core, SDK or both); never import new ones."""
    parsers: list[Any] = []
    if "airflow.configuration" in sys.modules:
        parsers.append(sys.modules["airflow.configuration"].conf)
    if "airflow.sdk.configuration" in sys.modules:
        parsers.append(sys.modules["airflow.sdk.configuration"].conf)
    if not parsers:
        from airflow.sdk.configuration import conf

        parsers.append(conf)
    return parsers


def _refresh_settings() -> None:
    if "airflow.configuration" in sys.modules:
        from airflow import settings

        settings.configure_vars()


def _apply(parser: Any, section: str, key: str, value: str | None) -> None:
    if value is not None:
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
    elif parser.has_section(section) and parser.has_option(section, key):
        parser.remove_option(section, key)


@contextlib.contextmanager
def conf_vars(overrides: Mapping[tuple[str, str], str | None]) -> Iterator[None]:
    """
    Temporarily override config options in every loaded config parser.

    A value of ``None`` removes the option. Matching ``AIRFLOW__SECTION__KEY`` environment
    variables are hidden for the duration so that they cannot shadow the override.
    """
    parsers = _loaded_parsers()
    saved: list[dict[tuple[str, str], str | None]] = [{} for _ in parsers]
    hidden_env: dict[str, str] = {}
    for (section, key), value in overrides.items():
        env_name = parsers[0]._env_var_name(section, key)
        if env_name in os.environ:
            hidden_env[env_name] = os.environ.pop(env_name)
        for idx, parser in enumerate(parsers):
            saved[idx][(section, key)] = parser.get(section, key) if parser.has_option(section, key) else None
            _apply(parser, section, key, value)
    _refresh_settings()
    try:
        yield
    finally:
        for idx, parser in enumerate(parsers):
            for (section, key), old in saved[idx].items():
                _apply(parser, section, key, old)
        os.environ.update(hidden_env)
        _refresh_settings()


@contextlib.contextmanager
def env_vars(overrides: Mapping[str, str]) -> Iterator[None]:
    """Temporarily set environment variables, restoring the previous environment on exit."""
    previous = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, old in previous.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


@overload
def create_fresh_airflow_config(variant: Literal["core"] = ...) -> AirflowConfigParser: ...


@overload
def create_fresh_airflow_config(variant: Literal["task-sdk"]) -> AirflowSDKConfigParser: ...


def create_fresh_airflow_config(
    variant: Literal["core", "task-sdk"] = "core",
) -> AirflowConfigParser | AirflowSDKConfigParser:
    """Build a new, fully initialised config parser that is independent of the global singleton."""
    if variant == "core":
        from airflow.configuration import initialize_config

        return initialize_config()
    if variant == "task-sdk":
        from airflow.sdk.configuration import initialize_config as initialize_sdk_config

        return initialize_sdk_config()
    raise ValueError(f"Unknown config variant {variant!r}; expected 'core' or 'task-sdk'")
