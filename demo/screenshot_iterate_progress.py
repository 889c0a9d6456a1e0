"""Render the Airflow UI's log view of an `.iterate()` task in headless Chromium and write a PNG.

Usage (in the patched environment)::

    ./fork run python demo/screenshot_iterate_progress.py OUT.png

Starts a private Airflow (SQLite, api-server on 127.0.0.1, LocalExecutor; see
`forktool.stack.airflow_stack`) on the DAG in `demo/progress_dags`, runs it, and loads the task instance's
page (whose default tab is the log view) in Chromium, installed with apt when missing. The stack runs
with ``[core] simple_auth_manager_all_admins``, so the browser logs in through the auth manager's
``/auth/token/login`` without a password, and ``[api] default_wrap``, so long log lines wrap.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import urllib.parse
from pathlib import Path

from forktool.stack.airflow_stack import AirflowStack
from forktool.stack.chromium import screenshot

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "iterate_progress"
TASK_ID = "checksum"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT.png", file=sys.stderr)
        return 2
    out = Path(argv[1])
    home = Path(tempfile.mkdtemp(prefix="fork-screenshot-"))
    stack = AirflowStack(
        home=home,
        dags_folder=REPO / "demo" / "progress_dags",
        extra_env={
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__DEFAULT_WRAP": "True",  # the summary event is longer than the window is wide
        },
    )
    try:
        stack.start()
        result = stack.run_dag(DAG_ID)
        if result.tis.get(TASK_ID) != "success":
            print(f"{DAG_ID} did not succeed: {result.tis}\n{result.output[-3000:]}", file=sys.stderr)
            return 1
        quote = urllib.parse.quote
        page = f"/dags/{DAG_ID}/runs/{quote(result.run_id, safe='')}/tasks/{TASK_ID}"
        login = f"{stack.base_url}/auth/token/login?{urllib.parse.urlencode({'next': page})}"
        screenshot(login, out, width=1600, height=680)
        print(f"{out}: {stack.base_url}{page}")
        return 0
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
