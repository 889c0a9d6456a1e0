"""The Celery stack of the fork's integration tests: a private Redis on 127.0.0.1 (broker and result
backend), ``airflow scheduler``, ``airflow api-server`` and two ``airflow celery worker`` processes
(prefork pool, concurrency 2), SQLite metadata database; plus a loopback sshd for the SFTP test. One stack
for the whole package (starting it costs about a minute on 2 cores); tests that stop a worker start it
again."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from forktool.stack.airflow_stack import AirflowStack, free_port
from forktool.stack.sshd import Sshd

REPO = Path(__file__).resolve().parents[2]
SFTP_CONN_ID = "sftp_ops"  # the connection of tests/dags/sftp_operator_dags.py


@pytest.fixture(scope="package")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = Sshd(tmp_path_factory.mktemp("celery-sshd"), free_port(), getpass.getuser()).start()
    yield server
    server.kill_connections()
    server.stop()


@pytest.fixture(scope="package")
def celery_stack(tmp_path_factory: pytest.TempPathFactory, sshd: Sshd) -> Iterator[AirflowStack]:
    home = tmp_path_factory.mktemp("celery-home")
    results = home / "results"
    results.mkdir()
    stack = AirflowStack(
        home=home,
        dags_folder=REPO / "tests" / "dags",
        plugins_folder=REPO / "tests" / "plugins",
        executor="CeleryExecutor",
        celery_workers=2,
        # The workers' environment is fixed at their start: every file a test DAG records into.
        extra_env={
            "FORK_TEST_EVENTS": str(home / "events.jsonl"),
            "FORK_TEST_RESULTS": str(results),
            "FORK_TEST_RESULT": str(results / "result.json"),
            f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}": sshd.airflow_connection(),
        },
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


class Events:
    """The JSON-lines events file the test DAGs append to (FORK_TEST_EVENTS of the workers)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def clear(self) -> None:
        self.path.write_text("")

    def all(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def of(self, task_id: str) -> list[dict]:
        return [e for e in self.all() if e["task_id"] == task_id]

    def kinds(self, task_id: str, listeners: bool = False) -> list[str]:
        return [e["kind"] for e in self.of(task_id) if listeners or not e["kind"].startswith("listener_")]


@pytest.fixture(scope="package")
def celery_events(celery_stack: AirflowStack) -> Events:
    return Events(Path(celery_stack.extra_env["FORK_TEST_EVENTS"]))


@pytest.fixture
def events(celery_events: Events) -> Events:
    """The events file, emptied for this test."""
    celery_events.clear()
    return celery_events


@pytest.fixture
def ensure_workers(celery_stack: AirflowStack) -> None:
    """Every worker is running when the test starts (an earlier test may have stopped or killed one);
    started here rather than after such a test, so the package's last test leaves no restart behind."""
    for n in range(1, celery_stack.celery_workers + 1):
        if f"worker{n}" not in celery_stack.workers:
            celery_stack.start_worker(f"worker{n}")
