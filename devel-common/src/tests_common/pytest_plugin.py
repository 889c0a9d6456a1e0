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
Pytest plugin shared by the upstream Airflow test suites, maintained by the fork.

Load it from a ``conftest.py`` with ``pytest_plugins = "tests_common.pytest_plugin"``.

Airflow reads its configuration when it is first imported, so this module must prepare the
environment *before* anything imports ``airflow``: do not import Airflow at module level
here; import it inside fixtures and hooks instead.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from contextlib import suppress
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast
from unittest import mock

import pytest

from tests_common.test_utils.paths import AIRFLOW_CORE_TESTS_PATH

if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from uuid import UUID

    from sqlalchemy.orm import Session

    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk import DAG, BaseOperator, Context
    from airflow.sdk.api.datamodels._generated import TaskInstanceState as TIState
    from airflow.sdk.execution_time.comms import StartupDetails, ToSupervisor
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    from airflow.sdk.types import DagRunProtocol, Operator
    from airflow.serialization.definitions.dag import SerializedDAG
    from tests_common.test_utils.logs import StructlogCapture


# --------------------------------------------------------------------------------------------
# Environment preparation (runs at import time, before Airflow is imported)
# --------------------------------------------------------------------------------------------

if "airflow" in sys.modules:  # pragma: no cover - configuration mistake in a conftest
    raise RuntimeError(
        "tests_common.pytest_plugin must be loaded before anything imports airflow; "
        "move airflow imports in conftest.py below `pytest_plugins` or into fixtures"
    )

_ENV_CONFIG_RE = re.compile(r"^AIRFLOW__(.+?)__(.+)$")
_ENV_CONFIG_ALWAYS_KEPT = {("database", "sql_alchemy_conn"), ("core", "sql_alchemy_conn")}

if "--keep-env-variables" not in sys.argv:
    # Configuration left in the developer's shell must not change test results.
    for _name in list(os.environ):
        if (_m := _ENV_CONFIG_RE.match(_name)) and (
            (_m.group(1).lower(), _m.group(2).lower()) not in _ENV_CONFIG_ALWAYS_KEPT
        ):
            del os.environ[_name]

SKIP_DB_TESTS: bool = "--skip-db-tests" in sys.argv or os.environ.get("_AIRFLOW_SKIP_DB_TESTS") == "true"
RUN_DB_TESTS_ONLY: bool = (
    "--run-db-tests-only" in sys.argv or os.environ.get("_AIRFLOW_RUN_DB_TESTS_ONLY") == "true"
)
if SKIP_DB_TESTS and RUN_DB_TESTS_ONLY:
    raise RuntimeError("--skip-db-tests and --run-db-tests-only are mutually exclusive")
if SKIP_DB_TESTS:
    # An unusable URL guarantees that a "non-DB" test touching the DB fails loudly.
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "bad_schema:///"
    os.environ["_AIRFLOW_SKIP_DB_TESTS"] = "true"  # propagated to xdist workers
if RUN_DB_TESTS_ONLY:
    os.environ["_AIRFLOW_RUN_DB_TESTS_ONLY"] = "true"
if not SKIP_DB_TESTS:
    # Outside a task (no supervisor comms) the Task SDK only consults the metastore for
    # connections/variables in a "server" process. DB-backed suites (e.g. SFTP's use of the
    # ``ssh_default`` connection) rely on that, as in the scheduler or API server.
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")

if not os.environ.get("AIRFLOW_HOME"):
    os.environ["AIRFLOW_HOME"] = os.path.join(tempfile.gettempdir(), "airflow-fork-tests-home")
if os.environ.get("PYTEST_XDIST_WORKER") and not SKIP_DB_TESTS:
    # SQLite takes one writer at a time: each xdist worker gets a home, so a metadata DB, of its own
    # (pytest-xdist sets PYTEST_XDIST_WORKER before the worker imports any plugin).
    os.environ["AIRFLOW_HOME"] = os.path.join(os.environ["AIRFLOW_HOME"], os.environ["PYTEST_XDIST_WORKER"])
AIRFLOW_HOME = Path(os.environ["AIRFLOW_HOME"])
AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)


def _test_folder(name: str) -> str:
    """Use the monorepo's ``airflow-core/tests/unit/<name>`` when present, else a private empty dir."""
    in_tree = AIRFLOW_CORE_TESTS_PATH / "unit" / name
    if in_tree.is_dir():
        return os.fspath(in_tree)
    private = AIRFLOW_HOME / name
    private.mkdir(parents=True, exist_ok=True)
    return os.fspath(private)


os.environ["_IN_UNIT_TESTS"] = "true"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES"] = "airflow.*\nunit.*\n"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = _test_folder("dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = _test_folder("plugins")

SUPPORTED_DB_BACKENDS = ("sqlite", "postgres", "mysql")


# --------------------------------------------------------------------------------------------
# Options, markers and skipping
# --------------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("airflow")
    group.addoption("--with-db-init", action="store_true", dest="db_init", help="Reset the test DB first.")
    group.addoption(
        "--without-db-init", action="store_true", dest="no_db_init", help="Never initialise the test DB."
    )
    group.addoption(
        "--integration",
        action="append",
        dest="integration",
        metavar="NAME",
        help="Run only these integrations.",
    )
    group.addoption(
        "--keep-env-variables",
        action="store_true",
        dest="keep_env_variables",
        help="Keep AIRFLOW__* variables from the calling environment.",
    )
    group.addoption("--skip-db-tests", action="store_true", dest="skip_db_tests", help="Skip DB tests.")
    group.addoption(
        "--run-db-tests-only", action="store_true", dest="run_db_tests_only", help="Run only DB tests."
    )
    group.addoption("--backend", action="store", dest="backend", metavar="BACKEND", help="Backend filter.")
    group.addoption("--system", action="store_true", dest="system", help="Run system tests.")
    group.addoption(
        "--include-long-running", action="store_true", dest="include_long_running", help="Run long tests."
    )
    group.addoption(
        "--include-quarantined",
        action="store_true",
        dest="include_quarantined",
        help="Run quarantined tests.",
    )
    group.addoption(
        "--no-db-cleanup", action="store_false", dest="db_cleanup", help="Do not empty the DB per module."
    )
    # Accepted for command-line compatibility with upstream; the fork has no warning plugins.
    group.addoption("--disable-forbidden-warnings", action="store_true", dest="disable_forbidden_warnings")
    group.addoption("--disable-capture-warnings", action="store_true", dest="disable_capture_warnings")
    group.addoption("--warning-output-path", action="store", dest="warning_output_path")
    parser.addini("forbidden_warnings", type="linelist", help="Accepted for compatibility; unused.")
    parser.addini("airflow_deprecations_ignore", type="linelist", help="Accepted for compatibility; unused.")


_MARKERS = (
    "integration(name): needs the named integration service",
    "backend(name): needs one of the named DB backends",
    "system: system test, run only with --system",
    "platform(name): needs the named platform",
    "long_running: takes many minutes",
    "quarantined: known flaky, skipped by default",
    "credential_file(name): needs the named file in CREDENTIALS_DIR",
    "need_serialized_dag: dag_maker should return a serialized dag",
    "want_activate_assets: dag_maker should activate referenced assets",
    "db_test: needs the metadata DB",
    "non_db_test_override: overrides a module/class level db_test mark",
    "virtualenv_operator: creates virtualenvs",
    "external_python_operator: uses an external interpreter",
    "enable_redact: keep secret redaction active",
    "mock_plugin_manager: run with a mocked plugin manager",
    "execution_timeout(seconds): informational timeout",
    "flaky: known flaky test",
)


def pytest_configure(config: pytest.Config) -> None:
    for line in _MARKERS:
        config.addinivalue_line("markers", line)
    backend = config.getoption("backend", default=None)
    if backend and backend not in SUPPORTED_DB_BACKENDS:
        pytest.exit(f"Unsupported --backend {backend!r}; use one of {SUPPORTED_DB_BACKENDS}", returncode=6)
    os.environ["_AIRFLOW__SKIP_DATABASE_EXECUTOR_COMPATIBILITY_CHECK"] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.pop("_AIRFLOW__SKIP_DATABASE_EXECUTOR_COMPATIBILITY_CHECK", None)


def _has_marker(item: pytest.Item, name: str) -> bool:
    return item.get_closest_marker(name) is not None


def _check_platform(marker: pytest.Mark) -> None:
    allowed = ("linux", "breeze")
    if not marker.args or any(arg not in allowed for arg in marker.args):
        pytest.fail(f"pytest.mark.platform expects some of {allowed}, got {marker.args!r}")
    if "linux" in marker.args and not sys.platform.startswith("linux"):
        pytest.skip("Linux-only test")
    if "breeze" in marker.args and os.environ.get("BREEZE", "").lower() != "true":
        pytest.skip("Runs only inside the Breeze container")


def _check_backend(marker: pytest.Mark, item: pytest.Item) -> None:
    names = marker.args
    if not names or any(name not in SUPPORTED_DB_BACKENDS for name in names):
        pytest.fail(f"pytest.mark.backend expects some of {SUPPORTED_DB_BACKENDS}, got {names!r}")
    if os.environ.get("BACKEND") not in names:
        pytest.skip(f"{item.nodeid} needs one of the {names} backends (BACKEND env var)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    option = item.config.option
    for marker in item.iter_markers(name="integration"):
        name = marker.args[0]
        if os.environ.get(f"INTEGRATION_{name.upper()}") != "true":
            pytest.skip(f"Needs the {name} integration (INTEGRATION_{name.upper()}=true)")
    if option.integration:
        wanted = set(option.integration)
        names = {m.args[0] for m in item.iter_markers(name="integration")}
        if "all" not in wanted and not names & wanted:
            pytest.skip(f"Not one of the selected integrations {sorted(wanted)}")
    if option.system != _has_marker(item, "system"):
        pytest.skip("System tests run only (and always) with --system")
    for marker in item.iter_markers(name="platform"):
        _check_platform(marker)
    for marker in item.iter_markers(name="backend"):
        _check_backend(marker, item)
    if option.backend and option.backend not in {
        name for m in item.iter_markers(name="backend") for name in m.args
    }:
        pytest.skip(f"Not marked for backend {option.backend}")
    if not option.include_long_running and _has_marker(item, "long_running"):
        pytest.skip("Long-running test; pass --include-long-running")
    if not option.include_quarantined and _has_marker(item, "quarantined"):
        pytest.skip("Quarantined test; pass --include-quarantined")
    is_db_test = (_has_marker(item, "db_test") and not _has_marker(item, "non_db_test_override")) or (
        _has_marker(item, "backend")
    )
    if SKIP_DB_TESTS and is_db_test:
        pytest.skip("DB test skipped (--skip-db-tests)")
    if RUN_DB_TESTS_ONLY and not is_db_test:
        pytest.skip("Non-DB test skipped (--run-db-tests-only)")
    for marker in item.iter_markers(name="credential_file"):
        path = Path(os.environ.get("CREDENTIALS_DIR", "/files/airflow-breeze-config/keys"), marker.args[0])
        if not path.exists():
            pytest.skip(f"Needs credential file {path}")


# --------------------------------------------------------------------------------------------
# Session-wide setup
# --------------------------------------------------------------------------------------------


def _airflow_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("airflow") is not None


@pytest.fixture(scope="session", autouse=True)
def _ensure_configured_logging(request: pytest.FixtureRequest) -> None:
    try:
        from airflow.sdk._shared.logging import configure_logging
    except ModuleNotFoundError:
        return
    level = request.config.getoption("log_level") or request.config.getini("log_level") or "INFO"
    configure_logging(log_level=level)


@pytest.fixture(scope="session", autouse=True)
def initialize_airflow_tests(request: pytest.FixtureRequest, _ensure_configured_logging: None) -> None:
    """Create the sqlite metadata DB once per AIRFLOW_HOME (or again with ``--with-db-init``)."""
    if SKIP_DB_TESTS or request.config.option.no_db_init:
        return
    import fcntl

    marker = AIRFLOW_HOME / ".airflow_db_initialised"
    # xdist workers start concurrently: serialise on a lock file so only one creates the DB.
    with open(AIRFLOW_HOME / ".airflow_db_init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and not (request.config.option.db_init and not _is_xdist_worker(request)):
            return
        from tests_common.test_utils.db import initial_db_init

        initial_db_init()
        marker.touch()


@pytest.fixture(scope="session", autouse=True)
def import_all_orm_models() -> None:
    """
    Register every ORM model before any test runs, in every process, with or without a DB.

    Creating the DB imports them all, but a run against an existing DB, an xdist worker that did not
    create it, or a DB-free suite would otherwise see only the models its test modules happened to
    import. Where Airflow is imported as a library (``_AIRFLOW__AS_LIBRARY``, as task-sdk's suite
    does) nothing imports the rest on demand either, so a module importing one model (e.g.
    ``airflow.models.trigger``) leaves the mapper registry unable to configure, and the next ORM
    object built anywhere in that process (e.g. a ``Connection`` read by a local secrets backend)
    fails, whichever test builds it. No DB connection is made.
    """
    try:
        from airflow.models import import_all_models
    except ImportError:  # a Task SDK without airflow-core
        return
    import_all_models()


def _is_xdist_worker(request: pytest.FixtureRequest) -> bool:
    return hasattr(request.config, "workerinput")


@pytest.fixture(scope="session", autouse=True)
def initialize_providers_manager(_ensure_configured_logging: None) -> None:
    if not _airflow_importable():
        return
    from airflow.providers_manager import ProvidersManager

    ProvidersManager().initialize_providers_configuration()


@pytest.fixture(scope="session", autouse=True)
def mock_plugins_manager_for_all_non_db_tests() -> Generator[None, None, None]:
    """In DB-free runs no plugins are loaded at all, so installed plugins cannot interfere."""
    if not SKIP_DB_TESTS or not _airflow_importable():
        yield
        return
    from tests_common.test_utils.mock_plugins import mock_plugin_manager

    with mock_plugin_manager(plugins=[]):
        yield


@pytest.fixture(scope="session", autouse=True)
def suppress_info_logs_for_dag_and_fab() -> None:
    logging.getLogger("airflow.models.dag").setLevel(logging.WARNING)


# --------------------------------------------------------------------------------------------
# Per-module / per-test hygiene
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _clear_db(request: pytest.FixtureRequest) -> None:
    """Start every test module from empty run/dag tables (sequential runs only)."""
    if SKIP_DB_TESTS or not request.config.option.db_cleanup or not _airflow_importable():
        return
    if getattr(request.config.option, "dist", "no") != "no" or hasattr(request.config, "workerinput"):
        return
    from tests_common.test_utils.db import clear_all

    try:
        clear_all()
    except Exception as exc:
        pytest.exit(f"Could not empty the test DB ({type(exc).__name__}: {exc}); try --with-db-init")


@pytest.fixture(autouse=True)
def clear_lru_cache() -> Generator[None, None, None]:
    caches: list[Callable[[], None]] = []
    for module in ("airflow._shared.module_loading", "airflow.sdk._shared.module_loading"):
        with suppress(ImportError, AttributeError):
            mod = __import__(module, fromlist=["_get_grouped_entry_points"])
            caches.append(mod._get_grouped_entry_points.cache_clear)
    for clear in caches:
        clear()
    yield
    for clear in caches:
        clear()


@pytest.fixture(autouse=True)
def close_all_sqlalchemy_sessions() -> Generator[None, None, None]:
    try:
        from sqlalchemy.orm import close_all_sessions
    except ImportError:
        yield
        return
    with suppress(Exception):
        close_all_sessions()
    yield
    with suppress(Exception):
        close_all_sessions()


_REDACT_TARGETS = (
    "airflow._shared.secrets_masker.SecretsMasker",
    "airflow.sdk._shared.secrets_masker.SecretsMasker",
)


@pytest.fixture(autouse=True)
def _disable_redact(request: pytest.FixtureRequest) -> Generator[None, None, None]:
    """
    Turn secret redaction into the identity function, unless the test is marked ``enable_redact``.

    Log assertions in the suites are written against unredacted output.
    """
    if not _airflow_importable():
        yield
        return
    import importlib

    classes = []
    for target in _REDACT_TARGETS:
        module_name, _, cls_name = target.rpartition(".")
        with suppress(ImportError, AttributeError):
            classes.append(getattr(importlib.import_module(module_name), cls_name))
    with pytest.MonkeyPatch.context() as mp:
        for cls in classes:
            mp.setattr(cls, "mask_secrets_in_logs", True, raising=False)
            if not _has_marker(cast("pytest.Item", request.node), "enable_redact"):
                mp.setattr(cls, "redact", lambda self, item, *args, **kwargs: item)
        yield


@pytest.fixture(autouse=True)
def _mock_plugins(request: pytest.FixtureRequest) -> Generator[None, None, None]:
    """Apply ``mock_plugin_manager(**kwargs)`` for tests marked ``mock_plugin_manager``."""
    mark = request.node.get_closest_marker("mock_plugin_manager")
    if mark is None:
        yield
        return
    from tests_common.test_utils.mock_plugins import mock_plugin_manager

    with mock_plugin_manager(**mark.kwargs):
        yield


# --------------------------------------------------------------------------------------------
# General purpose fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture
def frozen_sleep(monkeypatch: pytest.MonkeyPatch) -> Generator[Callable[[float], None], None, None]:
    """Replace ``time.sleep`` with a function that moves the (time-machine) clock instead of waiting."""
    import time_machine

    traveller: Any = None

    def fake_sleep(seconds: float) -> None:
        nonlocal traveller
        target = datetime.now(tz=dt_timezone.utc) + timedelta(seconds=seconds)
        if traveller is not None:
            traveller.stop()
        traveller = time_machine.travel(target)
        traveller.start()

    monkeypatch.setattr("time.sleep", fake_sleep)
    yield fake_sleep
    if traveller is not None:
        traveller.stop()


@pytest.fixture
def session() -> Generator[Session, None, None]:
    from airflow.utils.session import create_session

    with create_session() as sess:
        yield sess
        sess.rollback()


@pytest.fixture
def reset_db() -> None:
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def reset_logging_config() -> None:
    from airflow.logging_config import configure_logging

    configure_logging()


@pytest.fixture
def secret_key() -> str:
    from airflow.configuration import conf

    key = conf.get("api", "secret_key", fallback=None)
    if not key:
        raise RuntimeError("[api] secret_key must be configured for this test")
    return key


@pytest.fixture
def cleanup_providers_manager() -> Generator[None, None, None]:
    from airflow.providers_manager import ProvidersManager

    ProvidersManager()._cleanup()
    ProvidersManager().initialize_providers_configuration()
    try:
        yield
    finally:
        ProvidersManager()._cleanup()
        ProvidersManager().initialize_providers_configuration()


@pytest.fixture
def cleanup_providers_manager_runtime() -> Generator[None, None, None]:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    ProvidersManagerTaskRuntime()._cleanup()
    try:
        yield
    finally:
        ProvidersManagerTaskRuntime()._cleanup()


@pytest.fixture
def hook_lineage_collector() -> Generator[Any, None, None]:
    """A fresh ``HookLineageCollector`` returned by ``get_hook_lineage_collector()`` during the test."""
    from airflow.sdk.lineage import HookLineageCollector

    collector = HookLineageCollector()
    with mock.patch("airflow.sdk.lineage.get_hook_lineage_collector", return_value=collector):
        yield collector


@pytest.fixture
def listener_manager() -> Generator[Callable[[Any], None], None, None]:
    """Register listeners with both the core and the Task SDK listener managers for one test."""
    managers: list[Any] = []
    with suppress(ImportError):
        from airflow.listeners.listener import get_listener_manager as core_manager

        managers.append(core_manager())
    with suppress(ImportError):
        from airflow.sdk.listener import get_listener_manager as sdk_manager

        managers.append(sdk_manager())
    for manager in managers:
        manager.clear()

    def add(listener: Any) -> None:
        for manager in managers:
            manager.add_listener(listener)

    yield add
    for manager in managers:
        manager.clear()


@pytest.fixture
def create_connection_without_db(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Expose a ``Connection`` through an ``AIRFLOW_CONN_<ID>`` env var instead of the DB."""

    def create(connection: Any, session: Any = None) -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{connection.conn_id.upper()}", connection.as_json())

    return create


@pytest.fixture
def create_dag_without_db() -> Callable[[str], DAG]:
    def create(dag_id: str) -> DAG:
        from airflow.sdk import DAG

        return DAG(dag_id=dag_id, schedule=None, render_template_as_native_obj=True)

    return create


@pytest.fixture
def testing_dag_bundle() -> None:
    """Make sure a ``testing`` dag bundle row exists."""
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    with create_session() as sess:
        if sess.get(DagBundleModel, "testing") is None:
            sess.add(DagBundleModel(name="testing"))


# --------------------------------------------------------------------------------------------
# Logging capture
# --------------------------------------------------------------------------------------------


@pytest.fixture
def cap_structlog(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Generator[StructlogCapture, None, None]:
    """Capture structlog events and stdlib log records routed through Airflow's structlog setup."""
    import structlog
    import structlog.stdlib
    from structlog import DropEvent

    from tests_common.test_utils.logs import StructlogCapture

    capture = StructlogCapture()
    # Mutate the configured processor list in place: bound loggers keep a reference to it.
    processors = structlog.get_config()["processors"]
    original = list(processors)

    handler = logging.root.handlers[0] if logging.root.handlers else None
    if handler is None or not isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter):
        raise AssertionError("Airflow structlog logging is not configured on the root logger")
    stdlib_formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=handler.formatter.foreign_pre_chain,
        pass_foreign_args=True,
        use_get_message=False,
        processor=capture,
    )

    def capture_stdlib(record: logging.LogRecord) -> bool:
        with suppress(DropEvent):
            stdlib_formatter.format(record)
        return False

    level_name = request.config.getoption("log_cli_level") or request.config.getini("log_level") or "info"
    level = structlog.processors.NAME_TO_LEVEL[str(level_name).lower()]
    monkeypatch.setattr(logging.root, "level", level)
    monkeypatch.setattr(handler, "level", logging.NOTSET)
    monkeypatch.setattr(handler, "filters", [capture_stdlib])

    processors.clear()
    processors.append(structlog.processors.MaybeTimeStamper(fmt="iso"))
    processors.append(
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(use_rich=False, show_locals=False)
        )
    )
    processors.append(capture)
    structlog.configure(processors=processors)
    try:
        yield capture
    finally:
        capture._finalize()
        processors.clear()
        processors.extend(original)
        structlog.configure(processors=processors)


@pytest.fixture(name="caplog")
def override_caplog(request: pytest.FixtureRequest) -> Any:
    """``caplog`` backed by :func:`cap_structlog`, since Airflow routes all logging through structlog."""
    return request.getfixturevalue("cap_structlog")


# --------------------------------------------------------------------------------------------
# Task SDK execution fixtures (no DB)
# --------------------------------------------------------------------------------------------


def _timezone() -> Any:
    from airflow.sdk import timezone

    return timezone


@pytest.fixture
def mock_supervisor_comms(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Replace the task runner's supervisor channel with an autospec'd ``CommsDecoder``."""
    from airflow.sdk.execution_time import comms, task_runner

    fake = mock.create_autospec(comms.CommsDecoder)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", fake, raising=False)
    return fake


@pytest.fixture
def sdk_connection_not_found(mock_supervisor_comms: Any) -> Any:
    """Make every supervisor request answer ``CONNECTION_NOT_FOUND``."""
    from airflow.sdk.exceptions import ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    response = ErrorResponse(error=ErrorType.CONNECTION_NOT_FOUND)
    mock_supervisor_comms.send.return_value = response
    if hasattr(mock_supervisor_comms, "asend"):
        mock_supervisor_comms.asend.return_value = response
    return mock_supervisor_comms


@pytest.fixture
def mock_xcom_backend() -> Generator[Any, None, None]:
    with mock.patch("airflow.sdk.execution_time.task_runner.XCom", create=True) as backend:
        yield backend


class MockedParse(Protocol):
    def __call__(self, what: StartupDetails, dag_id: str, task: BaseOperator) -> RuntimeTaskInstance: ...


@pytest.fixture
def mocked_parse(spy_agency: Any) -> MockedParse:
    """
    Stub ``task_runner.parse`` so that it returns a ``RuntimeTaskInstance`` for an in-memory task.

    Call the returned function with ``StartupDetails``, a dag id and the task; a dag is created
    for the task if it has none.
    """

    def install(what: StartupDetails, dag_id: str, task: BaseOperator) -> RuntimeTaskInstance:
        from airflow.sdk import DAG
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance, parse

        if not task.has_dag():
            dag = DAG(dag_id=dag_id, start_date=_timezone().datetime(2024, 12, 3))
            task.dag = dag
            task = cast("BaseOperator", dag.task_dict[task.task_id])
        else:
            dag = cast("DAG", task.dag)
        if what.ti_context.dag_run.conf:
            dag.params = what.ti_context.dag_run.conf  # type: ignore[assignment]
        runtime_ti = RuntimeTaskInstance.model_construct(
            **what.ti.model_dump(exclude_unset=True),
            task=task,
            _ti_context_from_server=what.ti_context,
            max_tries=what.ti_context.max_tries,
            start_date=what.start_date,
        )
        if hasattr(parse, "spy"):
            spy_agency.unspy(parse)
        spy_agency.spy_on(parse, call_fake=lambda _what, _log: runtime_ti)
        return runtime_ti

    return install


class CreateRuntimeTI(Protocol):
    def __call__(
        self,
        task: Operator,
        dag_id: str = ...,
        run_id: str = ...,
        logical_date: str | datetime | None = ...,
        start_date: str | datetime = ...,
        run_type: str = ...,
        try_number: int = ...,
        map_index: int | None = ...,
        task_reschedule_count: int = ...,
        ti_id: UUID | None = ...,
        conf: dict[str, Any] | None = ...,
        should_retry: bool | None = ...,
        max_tries: int | None = ...,
    ) -> RuntimeTaskInstance: ...


_STARTUP_COMPAT_FIELDS: dict[str, Any] = {"requests_fd": 0, "sentry_integration": ""}


def _as_datetime(value: str | datetime | None) -> Any:
    tz = _timezone()
    if isinstance(value, str):
        return tz.parse(value)
    return tz.coerce_datetime(value)


@pytest.fixture
def create_runtime_ti(mocked_parse: MockedParse) -> CreateRuntimeTI:
    """
    Build a ``RuntimeTaskInstance`` for ``task`` as if the supervisor had sent ``StartupDetails``.

    The data interval is derived from the dag's timetable the way the scheduler would.
    """
    from uuid6 import uuid7

    from airflow.sdk import DAG
    from airflow.sdk.api.datamodels._generated import DagRun, DagRunState, TaskInstance, TIRunContext
    from airflow.sdk.execution_time.comms import BundleInfo, StartupDetails
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    def create(
        task: Operator,
        dag_id: str = "test_dag",
        run_id: str = "test_run",
        logical_date: str | datetime | None = "2024-12-01T01:00:00Z",
        start_date: str | datetime = "2024-12-01T01:00:00Z",
        run_type: str = "manual",
        try_number: int = 1,
        map_index: int | None = -1,
        task_reschedule_count: int = 0,
        ti_id: UUID | None = None,
        conf: dict[str, Any] | None = None,
        should_retry: bool | None = None,
        max_tries: int | None = None,
    ) -> RuntimeTaskInstance:
        logical = _as_datetime(logical_date)
        started = _as_datetime(start_date)
        if not task.has_dag():
            task.dag = DAG(dag_id=dag_id, start_date=_timezone().datetime(2024, 12, 3))
        dag = cast("DAG", task.dag)

        interval_start = interval_end = None
        timetable = coerce_to_core_timetable(dag.timetable)
        if run_type == "manual":
            if logical is not None:
                interval_start, interval_end = timetable.infer_manual_data_interval(run_after=logical)
        else:
            info = timetable.next_dagrun_info(
                last_automated_data_interval=None,
                restriction=TimeRestriction(earliest=None, latest=None, catchup=False),
            )
            if info is not None and info.data_interval is not None:
                interval_start, interval_end = info.data_interval.start, info.data_interval.end

        retries = task.retries or 0
        context = TIRunContext(
            dag_run=DagRun.model_validate(
                {
                    "dag_id": dag.dag_id,
                    "run_id": run_id,
                    "logical_date": logical,
                    "data_interval_start": interval_start,
                    "data_interval_end": interval_end,
                    "start_date": started,
                    "run_type": run_type,
                    "run_after": interval_end or logical or _timezone().utcnow(),
                    "conf": conf,
                    "consumed_asset_events": [],
                    "state": DagRunState.RUNNING,
                    # Required-but-nullable in some SDK versions' generated models.
                    **{name: None for name in ("end_date", "partition_key") if name in DagRun.model_fields},
                }
            ),
            task_reschedule_count=task_reschedule_count,
            max_tries=retries if max_tries is None else max_tries,
            should_retry=try_number <= retries if should_retry is None else should_retry,
        )
        details = StartupDetails(
            ti=TaskInstance(
                id=ti_id or uuid7(),
                task_id=task.task_id,
                dag_id=dag.dag_id,
                run_id=run_id,
                try_number=try_number,
                map_index=map_index,
                dag_version_id=uuid7(),
            ),
            dag_rel_path="",
            bundle_info=BundleInfo(name="anything", version="any"),
            ti_context=context,
            start_date=started,
            # Fields that only some SDK versions declare (and require).
            **{k: v for k, v in _STARTUP_COMPAT_FIELDS.items() if k in StartupDetails.model_fields},
        )
        return mocked_parse(details, dag.dag_id, cast("BaseOperator", task))

    return create


class _XComView:
    """XCom access for :func:`run_task`, backed by spies on ``XCom.set`` / ``XCom.get_one``."""

    def __init__(self, spy_agency: Any, xcom_cls: Any) -> None:
        self._agency = spy_agency
        self._xcom = xcom_cls
        self._ti: Any = None

    def _defaults(
        self, task_id: str | None, dag_id: str | None, run_id: str | None, map_index: int | None
    ) -> dict[str, Any]:
        return {
            "task_id": task_id or self._ti.task_id,
            "dag_id": dag_id or self._ti.dag_id,
            "run_id": run_id or self._ti.run_id,
            "map_index": self._ti.map_index if map_index is None else map_index,
        }

    def get(
        self,
        key: str,
        task_id: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
    ) -> Any:
        return self._xcom.get_one(key=key, **self._defaults(task_id, dag_id, run_id, map_index))

    def assert_pushed(
        self,
        key: str,
        value: Any,
        task_id: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
        **kwargs: Any,
    ) -> None:
        self._agency.assert_spy_called_with(
            self._xcom.set, key, value, **self._defaults(task_id, dag_id, run_id, map_index), **kwargs
        )

    def clear(self) -> None:
        for method in (self._xcom.set, self._xcom.get_one):
            if hasattr(method, "spy"):
                self._agency.unspy(method)


class RunTask:
    """Callable returned by :func:`run_task`; keeps the outcome of the last run."""

    def __init__(self, create_runtime_ti: CreateRuntimeTI, xcom: _XComView) -> None:
        self._create_runtime_ti = create_runtime_ti
        self.xcom = xcom
        self.state: TIState | None = None
        self.msg: ToSupervisor | None = None
        self.error: BaseException | None = None
        self.ti: RuntimeTaskInstance | None = None
        self.dagrun: DagRunProtocol | None = None
        self.context: Context | None = None

    def __call__(
        self,
        task: BaseOperator,
        dag_id: str = "test_dag",
        run_id: str = "test_run",
        logical_date: datetime | None = None,
        start_date: datetime | None = None,
        run_type: str = "manual",
        try_number: int = 1,
        map_index: int | None = -1,
        ti_id: UUID | None = None,
        max_tries: int | None = None,
        context_update: dict[str, Any] | None = None,
    ) -> tuple[TIState, ToSupervisor | None, BaseException | None]:
        import structlog

        from airflow.sdk.execution_time.task_runner import run

        now = _timezone().utcnow()
        ti = self._create_runtime_ti(
            task=task,
            dag_id=dag_id,
            run_id=run_id,
            logical_date=logical_date or now,
            start_date=start_date or now,
            run_type=run_type,
            try_number=try_number,
            map_index=map_index,
            ti_id=ti_id,
            max_tries=max_tries,
        )
        context = ti.get_template_context()
        if context_update:
            context.update(context_update)  # type: ignore[typeddict-item]
        self.xcom._ti = ti
        state, msg, error = run(ti, context, structlog.get_logger(logger_name="task"))
        self.state, self.msg, self.error = state, msg, error
        self.ti = ti
        self.dagrun = context.get("dag_run")
        self.context = context
        return state, msg, error


@pytest.fixture
def run_task(create_runtime_ti: CreateRuntimeTI, mock_supervisor_comms: Any, spy_agency: Any) -> RunTask:
    """
    Run an operator through the real task runner with mocked supervisor comms.

    ``run_task(op)`` returns ``(state, msg, error)``; the same values stay available as
    ``run_task.state`` etc., and ``run_task.xcom.get(key)`` / ``run_task.xcom.assert_pushed``
    inspect XComs the task pushed.
    """
    from airflow.sdk.execution_time.xcom import XCom

    for method in (XCom.set, XCom.get_one):
        if hasattr(method, "spy"):
            spy_agency.unspy(method)
    spy_agency.spy_on(XCom.set, call_original=True)

    def latest_value(*args: Any, **kwargs: Any) -> Any:
        wanted = {
            "task_id": kwargs.get("task_id"),
            "dag_id": kwargs.get("dag_id"),
            "run_id": kwargs.get("run_id"),
            "map_index": kwargs.get("map_index") or -1,
        }
        for call in reversed(XCom.set.calls):
            if (
                all(call.kwargs.get(k) == v for k, v in wanted.items())
                and len(call.args) >= 2
                and call.args[0] == kwargs.get("key")
            ):
                return call.args[1]
        return None

    spy_agency.spy_on(XCom.get_one, call_fake=lambda cls, *args, **kwargs: latest_value(*args, **kwargs))
    return RunTask(create_runtime_ti, _XComView(spy_agency, XCom))


# --------------------------------------------------------------------------------------------
# DB-backed dag fixtures
# --------------------------------------------------------------------------------------------


class DagMaker(Protocol):
    """Type of the :func:`dag_maker` fixture (importable for annotations)."""

    session: Session
    dag: DAG
    dag_run: DagRun

    def __call__(
        self,
        dag_id: str = ...,
        schedule: Any = ...,
        serialized: bool = ...,
        activate_assets: bool = ...,
        fileloc: str | None = ...,
        relative_fileloc: str | None = ...,
        bundle_name: str | None = ...,
        bundle_version: str | None = ...,
        session: Session | None = ...,
        **kwargs: Any,
    ) -> DagMaker: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None: ...

    @property
    def serialized_dag(self) -> SerializedDAG: ...

    def get_serialized_data(self) -> dict[str, Any]: ...

    def sync_dag_to_db(self) -> None: ...

    def create_dagrun(self, **kwargs: Any) -> DagRun: ...

    def create_dagrun_after(self, dagrun: DagRun, **kwargs: Any) -> DagRun: ...

    def create_ti(
        self,
        task_id: str,
        dag_run: DagRun | None = ...,
        dag_run_kwargs: dict[str, Any] | None = ...,
        map_index: int = ...,
    ) -> TaskInstance: ...

    def run_ti(
        self,
        task_id: str,
        dag_run: DagRun | None = ...,
        dag_run_kwargs: dict[str, Any] | None = ...,
        map_index: int = ...,
        **kwargs: Any,
    ) -> TaskInstance: ...


@pytest.fixture
def dag_maker(request: pytest.FixtureRequest) -> Generator[DagMaker, None, None]:
    """
    Build a dag inside a ``with`` block and persist it to the DB when the block exits.

    On exit the dag is written to the DB (DagModel, SerializedDagModel, DagVersion), so that
    ``dag_maker.create_dagrun()`` can create a run with task instances. Pass ``serialized=True``
    (or mark the test ``need_serialized_dag``) to get the deserialized scheduler dag from the
    ``with`` statement instead of the SDK dag. All rows are deleted after the test.
    """
    from tests_common.test_utils.dag_maker import DagFactory

    want_serialized = False
    if marker := request.node.get_closest_marker("need_serialized_dag"):
        want_serialized = bool(marker.args[0]) if marker.args else True
    want_activate_assets = True
    if marker := request.node.get_closest_marker("want_activate_assets"):
        want_activate_assets = bool(marker.args[0]) if marker.args else True

    factory = DagFactory(
        module=request.module,
        default_serialized=want_serialized,
        default_activate_assets=want_activate_assets,
    )
    try:
        yield cast("DagMaker", factory)
    finally:
        factory.cleanup()


@pytest.fixture
def create_dummy_dag(dag_maker: DagMaker) -> Callable[..., tuple[Any, Any]]:
    """Create a dag with a single ``EmptyOperator`` (and, by default, a scheduled dag run)."""
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.utils.types import DagRunType

    def create(
        dag_id: str = "dag",
        task_id: str = "op1",
        with_dagrun_type: Any = DagRunType.SCHEDULED,
        max_active_tis_per_dag: int = 16,
        max_active_tis_per_dagrun: int | None = None,
        pool: str = "default_pool",
        executor_config: dict[str, Any] | None = None,
        trigger_rule: str = "all_done",
        on_success_callback: Callable[..., Any] | None = None,
        on_execute_callback: Callable[..., Any] | None = None,
        on_failure_callback: Callable[..., Any] | None = None,
        on_retry_callback: Callable[..., Any] | None = None,
        email: str | None = None,
        task_display_name: str | None = None,
        **dag_kwargs: Any,
    ) -> tuple[Any, Any]:
        with dag_maker(dag_id, **dag_kwargs) as dag:
            op = EmptyOperator(
                task_id=task_id,
                task_display_name=task_display_name,
                max_active_tis_per_dag=max_active_tis_per_dag,
                max_active_tis_per_dagrun=max_active_tis_per_dagrun,
                executor_config=executor_config or {},
                on_success_callback=on_success_callback,
                on_execute_callback=on_execute_callback,
                on_failure_callback=on_failure_callback,
                on_retry_callback=on_retry_callback,
                email=email,
                pool=pool,
                trigger_rule=trigger_rule,
            )
        if with_dagrun_type is not None:
            dag_maker.create_dagrun(run_type=with_dagrun_type)
        return dag, op

    return create


@pytest.fixture
def create_task_instance(dag_maker: DagMaker) -> Callable[..., TaskInstance]:
    """Create a persisted ``TaskInstance`` of a one-task (``EmptyOperator``) dag."""
    from airflow.providers.standard.operators.empty import EmptyOperator
    from tests_common.test_utils.taskinstance import TaskInstanceWrapper
    from tests_common.test_utils.version_compat import NOTSET

    def create(
        logical_date: Any = NOTSET,
        run_after: datetime | None = None,
        dagrun_state: Any = None,
        state: Any = None,
        run_id: str | None = None,
        run_type: Any = None,
        data_interval: Any = None,
        external_executor_id: str | None = None,
        dag_id: str = "dag",
        task_id: str = "op1",
        map_index: int = -1,
        hostname: str | None = None,
        pid: int | None = None,
        last_heartbeat_at: datetime | None = None,
        task_display_name: str | None = None,
        max_active_tis_per_dag: int = 16,
        max_active_tis_per_dagrun: int | None = None,
        pool: str = "default_pool",
        executor_config: dict[str, Any] | None = None,
        trigger_rule: str = "all_done",
        on_success_callback: Callable[..., Any] | None = None,
        on_execute_callback: Callable[..., Any] | None = None,
        on_failure_callback: Callable[..., Any] | None = None,
        on_retry_callback: Callable[..., Any] | None = None,
        on_skipped_callback: Callable[..., Any] | None = None,
        inlets: Any = None,
        outlets: Any = None,
        email: str | None = None,
        **dag_kwargs: Any,
    ) -> TaskInstance:
        now = _timezone().utcnow()
        with dag_maker(dag_id, **dag_kwargs):
            task = EmptyOperator(
                task_id=task_id,
                task_display_name=task_display_name,
                max_active_tis_per_dag=max_active_tis_per_dag,
                max_active_tis_per_dagrun=max_active_tis_per_dagrun,
                executor_config=executor_config or {},
                on_success_callback=on_success_callback,
                on_execute_callback=on_execute_callback,
                on_failure_callback=on_failure_callback,
                on_retry_callback=on_retry_callback,
                on_skipped_callback=on_skipped_callback,
                inlets=inlets,
                outlets=outlets,
                email=email,
                pool=pool,
                trigger_rule=trigger_rule,
            )
        run_kwargs: dict[str, Any] = {
            "logical_date": now if logical_date is NOTSET else logical_date,
            "run_after": run_after or now,
            "state": dagrun_state,
        }
        if run_id is not None:
            run_kwargs["run_id"] = run_id
        if run_type is not None:
            run_kwargs["run_type"] = run_type
        if data_interval is not None:
            run_kwargs["data_interval"] = data_interval
        dagrun = dag_maker.create_dagrun(**run_kwargs)
        (ti,) = dagrun.task_instances
        ti.state = state
        ti.external_executor_id = external_executor_id
        ti.map_index = map_index
        ti.hostname = hostname or ""
        ti.pid = pid
        ti.last_heartbeat_at = last_heartbeat_at
        dag_maker.session.flush()
        ti.task = dag_maker.serialized_dag.get_task(task_id)
        return cast("TaskInstance", TaskInstanceWrapper(ti, task))

    return create


@pytest.fixture
def create_task_instance_of_operator(dag_maker: DagMaker) -> Callable[..., TaskInstance]:
    """Create a persisted ``TaskInstance`` for ``operator_class(**kwargs)`` in its own dag."""
    from tests_common.test_utils.taskinstance import TaskInstanceWrapper
    from tests_common.test_utils.version_compat import NOTSET

    def create(
        operator_class: type[BaseOperator],
        *,
        dag_id: str,
        template_searchpath: str | None = None,
        logical_date: Any = NOTSET,
        session: Session | None = None,
        **operator_kwargs: Any,
    ) -> TaskInstance:
        with dag_maker(dag_id=dag_id, template_searchpath=template_searchpath, session=session):
            task = operator_class(**operator_kwargs)
        (ti,) = dag_maker.create_dagrun(logical_date=logical_date).task_instances
        return cast("TaskInstance", TaskInstanceWrapper(ti, task))

    return create


@pytest.fixture
def create_task_of_operator(dag_maker: DagMaker) -> Callable[..., BaseOperator]:
    def create(
        operator_class: type[BaseOperator], *, dag_id: str, session: Session | None = None, **kwargs: Any
    ) -> BaseOperator:
        with dag_maker(dag_id=dag_id, session=session):
            kwargs.setdefault("timeout", 7)
            return operator_class(**kwargs)

    return create
