"""The demo DAG runs through a real `airflow dags test` and its async task's value reaches XCom."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_async_task_result_reaches_xcom(airflow_env):
    run = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "aip98_demo"],
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "fetched 20 values concurrently" in run.stdout
    shown = subprocess.run(
        [sys.executable, str(REPO / "demo" / "show_run.py"), "aip98_demo"],
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr[-3000:]
    squares = [i * i for i in range(20)]
    assert f"fetch_squares: success, returned {squares!r}" in shown.stdout
    assert "summarize: success, returned {'count': 20, 'sum': 2470}" in shown.stdout
