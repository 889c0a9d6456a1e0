"""./fork demo: build the patched Airflow and run the demo DAG through `airflow dags test` on SQLite."""

from __future__ import annotations

import subprocess
from pathlib import Path

from forktool.env import ensure_env, env_vars
from forktool.errors import ForkError
from forktool.pins import Pins
from forktool.progress import say
from forktool.workspace import Workspace

DEMO_DAG = "aip98_demo"


def airflow_env(python: Path, home: Path, dags: Path) -> dict[str, str]:
    """An embedded Airflow: SQLite in `home`, DAGs from `dags`, no examples."""
    env = env_vars(python)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )
    return env


def _step(what: str, argv: list[str], env: dict[str, str], log: Path) -> None:
    say(what)
    with log.open("w") as out:
        proc = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise ForkError(f"{what} failed (exit {proc.returncode}); last lines:\n{tail}", f"full log: {log}")


def run_demo(ws: Workspace, pins: Pins, label: str) -> int:
    python = ensure_env(ws, pins, label)
    home = ws.state / "demo" / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_env(python, home, ws.root / "demo" / "dags")
    airflow = str(python.parent / "airflow")
    _step("preparing the SQLite database", [airflow, "db", "migrate"], env, home / "db-migrate.log")
    log = home / "dags-test.log"
    _step(f"running `airflow dags test {DEMO_DAG}`", [airflow, "dags", "test", DEMO_DAG], env, log)
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("fetched "):
            print(line)
    say(f"full log: {log}")
    return subprocess.run([str(python), str(ws.root / "demo" / "show_run.py"), DEMO_DAG], env=env).returncode
