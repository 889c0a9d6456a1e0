"""Screenshots of the task instance page's Progress tab (the standard provider's Task Progress plugin).

Usage (in the patched environment)::

    ./fork run python demo/screenshot_task_progress.py OUT_DIR

Starts a private Airflow (SQLite, api-server on 127.0.0.1, LocalExecutor; see `forktool.stack.airflow_stack`)
on the DAG in `demo/progress_view_dags`, runs it, opens the task instance page's Progress tab in headless
Chromium (`forktool.stack.chromium.Browser`, Debian's chromium, installed with apt when missing) and writes
four PNGs into OUT_DIR: ``task-progress-running-light.png`` and ``-dark.png`` while the task runs (with a
dump of its threads and asyncio tasks), ``task-progress-finished-light.png`` and ``-dark.png`` after.
The stack runs with ``[core] simple_auth_manager_all_admins``, so the browser logs in through the auth
manager's ``/auth/token/login`` without a password. Dark mode is switched as the UI's color mode toggle
does: the ``theme`` key in local storage and the ``dark`` class on the page's ``<html>``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
from pathlib import Path

from forktool.stack.airflow_stack import AirflowStack
from forktool.stack.chromium import Browser

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "fetch_reports"
TASK_ID = "fetch"
FRAME = "document.querySelector('iframe[title=\"Progress\"]')"
VIEW = f"(() => {{ const f = {FRAME}; return f && f.contentDocument ? f.contentDocument : null; }})()"


def set_theme(browser: Browser, mode: str) -> None:
    browser.evaluate(
        f"localStorage.setItem('theme', '{mode}');"
        "document.documentElement.classList.remove('light', 'dark');"
        f"document.documentElement.classList.add('{mode}');"
        f"document.documentElement.style.colorScheme = '{mode}';"
    )
    browser.wait_for(
        f"(() => {{ const d = {VIEW}; return !!d && d.documentElement.classList.contains('{mode}'); }})()"
    )
    time.sleep(0.5)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[1])
    home = Path(tempfile.mkdtemp(prefix="fork-screenshot-"))
    stack = AirflowStack(
        home=home,
        dags_folder=REPO / "demo" / "progress_view_dags",
        extra_env={"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"},
    )
    result: dict[str, object] = {}
    try:
        stack.start()
        runner = threading.Thread(target=lambda: result.update(run=stack.run_dag(DAG_ID, timeout=900)))
        runner.start()
        run_id = ""
        while not run_id:
            time.sleep(0.5)
            try:
                runs = stack.api_get(f"dags/{DAG_ID}/dagRuns")["dag_runs"]
            except urllib.error.HTTPError as error:  # 404 until dag.test has stored the DAG
                if error.code != 404:
                    raise
                continue
            run_id = runs[0]["dag_run_id"] if runs else ""
        page = f"/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}/tasks/{TASK_ID}/plugin/progress"
        login = f"{stack.base_url}/auth/token/login?{urllib.parse.urlencode({'next': page})}"
        with Browser(width=1400, height=1250, timeout=300) as browser:
            browser.navigate(login)
            browser.wait_for(f"(() => {{ const d = {VIEW}; return !!d && !!d.getElementById('status'); }})()")
            set_theme(browser, "light")
            # While it runs: a third or more done, some failed items, and a dump of the running task.
            browser.wait_for(
                f"(() => {{ const d = {VIEW}; const bar = d && d.getElementById('progress-bar');"
                " return bar && Number(bar.dataset.percent) > 30 &&"
                " d.querySelectorAll('#failures tbody tr').length > 1; })()",
                timeout=300,
            )
            browser.evaluate(f"{VIEW}.getElementById('dump-button').click()")
            browser.wait_for(f"!{VIEW}.getElementById('dump-result').hidden", timeout=60)
            browser.evaluate(f"{VIEW}.getElementById('dump-output').scrollTop = 0")
            browser.screenshot(out / "task-progress-running-light.png")
            set_theme(browser, "dark")
            browser.screenshot(out / "task-progress-running-dark.png")
            runner.join(900)
            browser.wait_for(
                f"{VIEW}.getElementById('status').textContent.includes('IterateFailed')", timeout=60
            )
            browser.screenshot(out / "task-progress-finished-dark.png")
            set_theme(browser, "light")
            browser.screenshot(out / "task-progress-finished-light.png")
        print(f"{out}: 4 screenshots of {stack.base_url}{page}")
        return 0
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
