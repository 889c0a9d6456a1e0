"""Fixtures of the fork's integration tests: a real, embedded Airflow (SQLite) in the patched environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from forktool.stack.airflow_stack import AirflowStack

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("airflow-home")


@pytest.fixture(scope="session")
def airflow_env(airflow_home: Path) -> dict[str, str]:
    """Environment of an embedded Airflow whose DAGs folder is the fork's demo/dags; database migrated."""
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "demo" / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
    )
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    return env


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    """A real Airflow (SQLite, api-server on 127.0.0.1, LocalExecutor) running tests/dags."""
    airflow = AirflowStack(
        home=tmp_path_factory.mktemp("stack-home"),
        dags_folder=REPO / "tests" / "dags",
        plugins_folder=REPO / "tests" / "plugins",
    )
    airflow.start()
    yield airflow
    airflow.stop()
