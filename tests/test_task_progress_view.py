"""Structured task progress where users look: the plugin's REST API and the Progress tab of the real UI.

One run of ``task_progress_view`` (tests/dags/task_progress_dags.py) through the real supervisor
(LocalExecutor, api-server on 127.0.0.1, SimpleAuthManager with generated passwords). While its 2,000-item
``.iterate()`` task runs, a poller reads the plugin's progress endpoint, the test asks the task for a dump
through the API, and a headless Chromium (Debian's, installed by ``forktool.stack.chromium`` before the run)
logs in, opens the task instance page, opens the Progress tab and reads the bar, the counters and the
failed items from the DOM, then presses the dump button. The same is read again after the run ended.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from forktool.stack.chromium import Browser

DAG_ID = "task_progress_view"
TASK_ID = "many_items"
ITEMS = 2000
BAD = [x for x in range(ITEMS) if x % 97 == 13]
# Seconds per item: 2,000 items, 8 at a time, about 20 s of running task to watch.
SLEEP = 0.08
IN_FLIGHT = re.compile(rf"^{TASK_ID}\[\d+\]$")

READ_VIEW = """(() => {
  const frame = document.querySelector('iframe[title="Progress"]');
  const doc = frame && frame.contentDocument;
  if (!doc || !doc.getElementById("progress-bar") || doc.getElementById("progress").hidden) return null;
  const counters = {};
  doc.querySelectorAll("#counters dd").forEach((dd) => { counters[dd.dataset.field] = dd.textContent; });
  const rows = [...doc.querySelectorAll("#failures tbody tr")].map(
    (tr) => Object.fromEntries([...tr.cells].map((td) => [td.dataset.field, td.textContent])));
  const bar = doc.getElementById("progress-bar");
  return {percent: bar.dataset.percent, version: bar.dataset.version, counters, rows,
          label: doc.getElementById("bar-label").textContent,
          status: doc.getElementById("status").textContent,
          dark: doc.documentElement.classList.contains("dark")};
})()"""

READ_MESSAGE = """(() => {
  const frame = document.querySelector('iframe[title="Progress"]');
  const doc = frame && frame.contentDocument;
  const message = doc && doc.getElementById("message");
  return message && !message.hidden && message.textContent ? message.textContent : null;
})()"""


def call(stack, path: str, method: str = "GET", token: str | None = "") -> tuple[int, Any]:
    """An authenticated request to the api-server; (status, JSON body)."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token or stack.api_token()}"
    request = Request(f"{stack.base_url}{path}", method=method, headers=headers)
    try:
        with urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except HTTPError as error:
        body = error.read().decode()
        try:
            return error.code, json.loads(body)
        except ValueError:
            return error.code, body


def ti_path(run_id: str, task_id: str = TASK_ID) -> str:
    quote = urllib.parse.quote
    return f"/task-progress/api/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"


def number(text: str) -> float:
    return float(text.replace(",", ""))


@dataclass
class Watched:
    run: Any = None
    run_id: str = ""
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    api_dump: dict[str, Any] = field(default_factory=dict)
    view_running: dict[str, Any] = field(default_factory=dict)
    api_running: dict[str, Any] = field(default_factory=dict)
    view_dump_in_flight: str = ""
    view_theme: tuple[bool, bool] = (False, False)
    view_final: dict[str, Any] = field(default_factory=dict)
    api_final: dict[str, Any] = field(default_factory=dict)
    view_mapped_total: str = ""
    view_no_progress: str = ""


def login(browser: Browser, stack, next_path: str) -> None:
    """Sign in through the SimpleAuthManager's login form, as a user would."""
    password = json.loads((stack.home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
    browser.navigate(f"{stack.base_url}{next_path}")
    browser.wait_for(
        "location.pathname.startsWith('/auth/login') && !!document.querySelector('input[name=password]')"
    )
    fill = """((user, password) => {
          const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
          for (const [name, value] of [["username", user], ["password", password]]) {
            const input = document.querySelector(`input[name=${name}]`);
            set.call(input, value);
            input.dispatchEvent(new Event("input", {bubbles: true}));
          }
        })"""
    browser.evaluate(f"{fill}('admin', {json.dumps(password)})")
    time.sleep(0.5)  # let the form's state take the typed values
    browser.evaluate('document.querySelector("button[type=submit]").click()')
    browser.wait_for("!location.pathname.startsWith('/auth/login')")


def open_progress_tab(browser: Browser, stack, page: str) -> None:
    """Open the task instance page, then its Progress tab (a link the UI builds from the plugin)."""
    browser.navigate(f"{stack.base_url}{page}")
    browser.wait_for("!!document.querySelector('a[href$=\"/plugin/progress\"]')", timeout=60)
    browser.evaluate("document.querySelector('a[href$=\"/plugin/progress\"]').click()")
    browser.wait_for("!!document.querySelector('iframe[title=\"Progress\"]')")


def read_matching(browser: Browser, stack, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The view and the API snapshot it shows: read both until they are of the same published version."""
    for _ in range(40):
        view = browser.wait_for(READ_VIEW, timeout=60)
        _, api = call(stack, ti_path(run_id) + "/progress")
        if api["progress"] and str(api["progress"]["version"]) == view["version"]:
            return view, api["progress"]
        time.sleep(0.25)
    raise AssertionError("the view never showed the snapshot the API returned")


@pytest.fixture(scope="module")
def watched(stack) -> Watched:
    return watch(stack)


def watch(stack) -> Watched:
    """Run the DAG; read the API, ask for a dump and read the Progress view while it runs and after."""
    # The view must find the task running (about 20 s): the browser is started (on a new machine apt
    # installs Chromium first) and signed in before the run starts.
    with Browser(width=1400, height=1000, timeout=90) as browser:
        login(browser, stack, "/")
        w = Watched()
        runner = threading.Thread(
            target=lambda: setattr(w, "run", stack.run_dag(DAG_ID, conf={"sleep": SLEEP}, timeout=600)),
            daemon=True,
        )
        runner.start()
        deadline = time.monotonic() + 300
        while not w.run_id:
            assert time.monotonic() < deadline and runner.is_alive(), "the run did not start"
            status, runs = call(stack, f"/api/v2/dags/{DAG_ID}/dagRuns")
            if status == 200 and runs["dag_runs"]:
                w.run_id = runs["dag_runs"][0]["dag_run_id"]
            time.sleep(0.5)

        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                status, body = call(stack, ti_path(w.run_id) + "/progress")
                if status == 200 and body["progress"]:
                    w.snapshots.append({**body["progress"], "ti_state": body["state"]})
                if status == 200 and body["state"] in ("success", "failed"):
                    return
                time.sleep(0.3)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            while not (w.snapshots and w.snapshots[-1]["done"] > 0):
                assert time.monotonic() < deadline, "no progress published"
                time.sleep(0.2)

            # A dump through the API, while the task runs.
            status, request = call(stack, ti_path(w.run_id) + "/dump", method="POST")
            assert status == 202, request
            while True:
                status, answer = call(stack, ti_path(w.run_id) + f"/dump?id={request['id']}")
                if answer["status"] != "pending":
                    w.api_dump = answer
                    break
                assert time.monotonic() < deadline, "no dump answer"
                time.sleep(0.3)

            quote = urllib.parse.quote
            page = f"/dags/{DAG_ID}/runs/{quote(w.run_id, safe='')}/tasks/{TASK_ID}"
            open_progress_tab(browser, stack, page)
            w.view_running, w.api_running = read_matching(browser, stack, w.run_id)
            # The dump button of the view: enabled only while the task runs.
            frame = "document.querySelector('iframe[title=\"Progress\"]').contentDocument"
            button = browser.evaluate(
                f"(() => {{ const d = {frame}; return [d.getElementById('dump-button').disabled,"
                " d.getElementById('dump-status').textContent]; })()"
            )
            assert not button[0], f"the view found the task no longer running: {button[1]}"
            browser.evaluate(f"{frame}.getElementById('dump-button').click()")
            w.view_dump_in_flight = browser.wait_for(
                f"(() => {{ const d = {frame}; return d.getElementById('dump-result').hidden ? null"
                " : d.getElementById('dump-in-flight').textContent; })()",
                timeout=60,
            )
            # The UI switches color mode with a class on its <html>; the view follows it.
            theme = []
            for mode in ("dark", "light"):
                browser.evaluate(
                    f"document.documentElement.classList.remove('dark', 'light');"
                    f"document.documentElement.classList.add('{mode}')"
                )
                time.sleep(0.3)
                theme.append(browser.evaluate(READ_VIEW)["dark"])
            w.view_theme = (theme[0], theme[1])

            runner.join(600)
            poller.join(60)
            w.view_final, w.api_final = read_matching(browser, stack, w.run_id)
            browser.wait_for(READ_VIEW + ".status.includes('IterateFailed')", timeout=30)

            open_progress_tab(
                browser, stack, f"/dags/{DAG_ID}/runs/{quote(w.run_id, safe='')}/tasks/by_hand/mapped/1"
            )
            w.view_mapped_total = browser.wait_for(
                "(() => { const v = " + READ_VIEW + "; return v && v.counters.total; })()"
            )
            open_progress_tab(
                browser, stack, f"/dags/{DAG_ID}/runs/{quote(w.run_id, safe='')}/tasks/no_progress"
            )
            w.view_no_progress = browser.wait_for(READ_MESSAGE)
        finally:
            done.set()
        assert w.run is not None, "the run did not finish"
        return w


def test_run_outcome(watched):
    assert watched.run.tis == {
        "many_items": "failed",
        "by_hand[0]": "success",
        "by_hand[1]": "success",
        "no_progress": "success",
        "zero_total": "success",
        "unprintable_input": "success",
        "negative_count": "failed",
    }, watched.run.output[-3000:]


def test_api_requires_authentication(stack, watched):
    status, body = call(stack, ti_path(watched.run_id) + "/progress", token=None)
    assert status == 401, body
    status, body = call(stack, ti_path(watched.run_id) + "/dump", method="POST", token=None)
    assert status == 401, body


def test_snapshots_are_monotonic_while_running(watched):
    running = [s for s in watched.snapshots if s["status"] == "running"]
    assert len({s["version"] for s in running}) >= 5, "too few distinct snapshots seen while running"
    for before, after in itertools.pairwise(watched.snapshots):
        for key in ("done", "failed", "version", "published", "peak_concurrency"):
            assert after[key] >= before[key], (key, before, after)
        assert (after["percent"] or 0) >= (before["percent"] or 0)
        assert len(after["failures"]) >= len(before["failures"])
    assert all(s["total"] == ITEMS for s in watched.snapshots)
    assert all(0 <= s["in_flight"] <= 8 for s in running)
    assert any(0 < s["percent"] < 100 for s in running)
    assert all(s["rate"] > 0 and s["eta_s"] is not None for s in running if s["done"] > 0)


def test_final_snapshot_equals_iterate_summary(stack, watched):
    final = watched.api_final
    status, xcom = call(
        stack,
        f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(watched.run_id, safe='')}"
        f"/taskInstances/{TASK_ID}/xcomEntries/iterate_summary?deserialize=true",
    )
    assert status == 200, xcom
    summary = xcom["value"]
    if isinstance(summary, str):
        summary = json.loads(summary)
    for key in ("done", "failed", "total", "retried", "resumed", "peak_concurrency", "status", "percent"):
        assert final[key] == summary[key], key
    assert (final["done"], final["failed"], final["status"]) == (ITEMS - len(BAD), len(BAD), "IterateFailed")
    assert sorted(f["index"] for f in final["failures"]) == BAD
    assert sorted(f["index"] for f in final["failures"]) == sorted(f["index"] for f in summary["failures"])
    assert {f["error"] for f in final["failures"]} == {f"item {x} is bad" for x in BAD}
    assert final["in_flight"] == 0 and final["failures_omitted"] == 0
    # Throttled: about one write a second, not one per item.
    assert final["published"] < 60


def test_dump_through_the_api_names_in_flight_items(stack, watched):
    dump = watched.api_dump
    assert dump["status"] == "done", dump
    assert dump["in_flight"], dump["text"]
    assert all(IN_FLIGHT.match(name) for name in dump["in_flight"]), dump["in_flight"]
    assert "Asyncio tasks on the task event loop" in dump["text"]
    assert any(t["name"] == "task-progress-publisher" for t in dump["threads"])
    log = stack.task_log(DAG_ID, watched.run_id, TASK_ID)
    assert f'"request_id":"{dump["id"]}"' in log.replace(" ", "")


def test_view_matches_api_while_running(watched):
    view, api = watched.view_running, watched.api_running
    assert api["status"] == "running"
    assert float(view["percent"]) == api["percent"]
    assert number(view["counters"]["done"]) == api["done"]
    assert number(view["counters"]["failed"]) == api["failed"]
    assert number(view["counters"]["total"]) == ITEMS
    assert number(view["counters"]["in_flight"]) == api["in_flight"]
    assert [int(r["index"]) for r in view["rows"]] == [f["index"] for f in api["failures"]]
    assert [r["error"] for r in view["rows"]] == [f["error"] for f in api["failures"]]
    # The label reads like "48.5% · 970 of 2,000"; a whole percent drops its ".0" ("48% · 960 of 2,000").
    label = re.fullmatch(r"([\d.]+)% · ([\d,]+) of ([\d,]+)", view["label"])
    assert label, view["label"]
    assert float(label[1]) == api["percent"]
    assert number(label[2]) == api["done"] + api["failed"]
    assert number(label[3]) == ITEMS


def test_view_dump_button_and_theme(watched):
    names = watched.view_dump_in_flight.split(", ")
    assert names and all(IN_FLIGHT.match(n) for n in names), watched.view_dump_in_flight
    assert watched.view_theme == (True, False)


def test_view_matches_api_after_the_run(watched):
    view, api = watched.view_final, watched.api_final
    assert float(view["percent"]) == api["percent"] == 100.0
    assert number(view["counters"]["done"]) == api["done"] == ITEMS - len(BAD)
    assert number(view["counters"]["failed"]) == api["failed"] == len(BAD)
    assert [int(r["index"]) for r in view["rows"]] == [f["index"] for f in api["failures"]]
    assert [r["input"] for r in view["rows"]] == [
        f"{{'x': {x}}}" for x in (f["index"] for f in api["failures"])
    ]
    assert {r["error_type"] for r in view["rows"]} == {"ValueError"}
    assert "IterateFailed" in view["status"]


def test_mapped_task_one_view_per_map_index(stack, watched):
    assert watched.view_mapped_total == "5"
    totals = []
    for map_index in (0, 1):
        status, body = call(stack, ti_path(watched.run_id, "by_hand") + f"/progress?map_index={map_index}")
        assert status == 200, body
        totals.append(
            (body["progress"]["total"], body["progress"]["done"], body["progress"]["counters"]["bytes"])
        )
    assert totals == [(3, 3, 3 * 1024), (5, 5, 5 * 1024)]
    status, body = call(stack, ti_path(watched.run_id, "by_hand") + "/progress")
    assert status == 404 and "The task is mapped: pass map_index" in body["detail"]


def test_bad_input_gets_clear_messages(stack, watched):
    run_id = watched.run_id
    # A task that never published progress: the API and the view say so.
    status, body = call(stack, ti_path(run_id, "no_progress") + "/progress")
    assert status == 200 and body["progress"] is None
    assert "has published no progress" in body["message"]
    assert "has published no progress" in watched.view_no_progress
    # A total of 0 is complete, not a division by zero.
    _, body = call(stack, ti_path(run_id, "zero_total") + "/progress")
    assert (body["progress"]["percent"], body["progress"]["eta_s"], body["progress"]["status"]) == (
        0 + 100.0,
        0.0,
        "success",
    )
    # An input whose repr raises is shown as such.
    _, body = call(stack, ti_path(run_id, "unprintable_input") + "/progress")
    assert body["progress"]["failures"][0]["input"] == "<unrepresentable Unprintable>"
    # A negative count fails the task with a message naming it; the API still answers.
    log = stack.task_log(DAG_ID, run_id, "negative_count")
    assert "Task progress: advance must be a count >= 0, got -1" in log
    status, body = call(stack, ti_path(run_id, "negative_count") + "/progress")
    assert status == 200
    # A dump of a finished task: 409 and why.
    status, body = call(stack, ti_path(run_id) + "/dump", method="POST")
    assert status == 409 and "can only be taken from a running task" in body["detail"]
    # An unknown dump id of a finished task, an unknown task, a bad map index: no 500.
    status, body = call(stack, ti_path(run_id) + "/dump?id=nope")
    assert status == 200 and body["status"] == "unanswered"
    status, body = call(stack, ti_path(run_id, "no_such_task") + "/progress")
    assert status == 404 and "Task instance not found" in body["detail"]
    status, body = call(stack, ti_path(run_id) + "/progress?map_index=-2")
    assert status == 422


def progress_cli(stack, *args: str) -> subprocess.CompletedProcess[str]:
    module = "airflow.providers.standard.plugins.task_progress_cli"
    return subprocess.run(
        [str(stack.python), "-m", module, *args], env=stack.env, capture_output=True, text=True, timeout=120
    )


def test_cli_prints_progress(stack, watched):
    run_id = watched.run_id
    out = progress_cli(stack, DAG_ID, TASK_ID, run_id)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"IterateFailed: 100.0%  done {ITEMS - len(BAD)} / {ITEMS}, failed {len(BAD)}" in out.stdout
    assert f"failed items ({len(BAD)}):" in out.stdout
    assert "[13] {'x': 13}: ValueError: item 13 is bad (attempts 1)" in out.stdout
    out = progress_cli(stack, DAG_ID, TASK_ID, run_id, "--json")
    assert json.loads(out.stdout)["progress"] == watched.api_final
    out = progress_cli(stack, DAG_ID, "by_hand", run_id, "--map-index", "1")
    assert "done 5 / 5" in out.stdout and "counters: bytes 5120, bytes_total 5120" in out.stdout
    out = progress_cli(stack, DAG_ID, "no_progress", run_id)
    assert out.returncode == 1 and "has published no progress" in out.stdout
    out = progress_cli(stack, DAG_ID, TASK_ID, run_id, "--dump")
    assert out.returncode == 1 and "a dump can only be taken from a running task" in out.stderr
    out = progress_cli(stack, DAG_ID, "by_hand", run_id)
    assert out.returncode == 1 and "a mapped task needs --map-index" in out.stderr


def test_airflow_tasks_progress(stack, watched):
    """The same through the core CLI, once apache-airflow-core is built from the series."""
    out = stack.airflow("tasks", "progress", DAG_ID, TASK_ID, watched.run_id, "--json")
    if "invalid choice: 'progress'" in out.stderr:
        pytest.skip("apache-airflow-core of this environment is PyPI's, without the series' CLI change")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout[out.stdout.index("{") :])["progress"] == watched.api_final
