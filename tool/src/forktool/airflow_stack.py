"""A real, embedded Airflow for the fork's integration tests and benchmarks.

SQLite metadata database, an ``airflow api-server`` on 127.0.0.1 serving the execution API, and
``dag.test(use_executor=True)`` with the LocalExecutor, so that tasks run the way they do in
production: in a forked task process under the Task SDK supervisor (plain ``dag.test()`` runs them
in-process and hides signal, fork and timeout behaviour).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_DAG = """
import json, os, sys, threading, time
from airflow.dag_processing.dagbag import DagBag
from airflow.executors.local_executor import LocalExecutor

# LocalExecutor.end() waits forever when a worker died while reading the work queue (seen under load,
# after the run had finished). The run's outcome is decided by then, so bound the wait and say so.
_end = LocalExecutor.end
def _bounded_end(self):
    waiter = threading.Thread(target=_end, args=(self,), daemon=True)
    waiter.start()
    waiter.join(60)
    if waiter.is_alive():
        print("HARNESS: LocalExecutor.end() did not return within 60 s; workers left behind", file=sys.stderr)
LocalExecutor.end = _bounded_end

dag = DagBag(dag_folder=sys.argv[1]).get_dag(sys.argv[2])
conf = json.loads(sys.argv[3])
started = time.monotonic()
run = dag.test(use_executor=True, run_conf=conf or None)
tis, durations = {}, {}
for ti in run.get_task_instances():
    key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
    tis[key] = ti.state
    durations[key] = ti.duration
print("DAGRUN-RESULT " + json.dumps({"run_id": run.run_id, "state": run.state, "tis": tis,
      "durations": durations, "seconds": time.monotonic() - started}), flush=True)
sys.stderr.flush()
os._exit(0)  # do not wait for executor workers at interpreter exit (see above)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DagRunResult:
    run_id: str
    state: str
    tis: dict[str, str]
    durations: dict[str, float | None]
    seconds: float
    output: str


@dataclass
class AirflowStack:
    home: Path
    dags_folder: Path
    plugins_folder: Path | None = None
    python: Path = field(default_factory=lambda: Path(sys.executable))
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    _api: subprocess.Popen[bytes] | None = None
    _token: str | None = None

    @property
    def env(self) -> dict[str, str]:
        env = dict(
            os.environ,
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.port}/execution/",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            PATH=f"{self.python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        if self.plugins_folder:
            env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(self.plugins_folder)
        secret_file = self.home / "jwt-secret"
        if not secret_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(secrets.token_hex(32))
        env["AIRFLOW__API_AUTH__JWT_SECRET"] = secret_file.read_text()
        env.update(self.extra_env)
        return env

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python.parent / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self) -> AirflowStack:
        migrate = self.airflow("db", "migrate")
        if migrate.returncode != 0:
            raise RuntimeError(
                f"airflow db migrate failed:\n{migrate.stdout[-2000:]}{migrate.stderr[-2000:]}"
            )
        log = (self.home / "api-server.log").open("wb")
        self._api = subprocess.Popen(
            [
                str(self.python.parent / "airflow"),
                "api-server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self._api.poll() is not None:
                raise RuntimeError(f"api-server exited; see {self.home / 'api-server.log'}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/version", timeout=2):
                    return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"api-server did not answer in 120 s; see {self.home / 'api-server.log'}")

    def stop(self) -> None:
        if self._api and self._api.poll() is None:
            os.killpg(self._api.pid, signal.SIGTERM)
            try:
                self._api.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._api.pid, signal.SIGKILL)
        self._api = None

    def run_dag(
        self,
        dag_id: str,
        conf: dict[str, object] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> DagRunResult:
        """Run one DAG run through the LocalExecutor and the real supervisor; wait for it to finish.

        `env` is added to the environment of this run only (its task processes inherit it).
        """
        # Its own session, so that executor workers and task processes it leaves behind can be killed;
        # output goes to files, as such leftovers would hold pipes open.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(
                [str(self.python), "-c", RUN_DAG, str(self.dags_folder), dag_id, json.dumps(conf or {})],
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=err,
                text=True,
                start_new_session=True,
            )
            try:
                proc.wait(timeout=timeout)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        output = stdout + stderr
        for line in stdout.splitlines():
            if line.startswith("DAGRUN-RESULT "):
                return DagRunResult(output=output, **json.loads(line.removeprefix("DAGRUN-RESULT ")))
        raise RuntimeError(f"dag.test of {dag_id} gave no result (exit {proc.returncode}):\n{output[-4000:]}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_token(self, username: str = "admin") -> str:
        """A JWT for the public REST API from the SimpleAuthManager's ``/auth/token`` endpoint.

        The api-server's SimpleAuthManager generates the users' passwords into
        ``AIRFLOW_HOME/simple_auth_manager_passwords.json.generated`` when it starts (the default user
        is ``admin``); with ``[core] simple_auth_manager_all_admins`` no password is needed.
        """
        if self._token is None:
            url = f"{self.base_url}/auth/token"
            passwords = self.home / "simple_auth_manager_passwords.json.generated"
            if passwords.exists():
                password = json.loads(passwords.read_text())[username]
                body = json.dumps({"username": username, "password": password}).encode()
                request = urllib.request.Request(
                    url, data=body, headers={"Content-Type": "application/json"}, method="POST"
                )
            else:  # all-admins mode: no users, a token for anyone
                request = urllib.request.Request(url)
            with urllib.request.urlopen(request, timeout=30) as response:
                self._token = str(json.load(response)["access_token"])
        return self._token

    def api_get(self, path: str, **params: str | int | bool) -> Any:
        """GET ``/api/v2/{path}`` from the stack's api-server as an authenticated user; the JSON answer."""
        query = urllib.parse.urlencode(
            {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
        )
        request = urllib.request.Request(
            f"{self.base_url}/api/v2/{path.lstrip('/')}" + (f"?{query}" if query else ""),
            headers={"Authorization": f"Bearer {self.api_token()}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    def api_task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> list[dict[str, Any]]:
        """One task attempt's log as the REST API (and the UI's log view) serves it: structured records.

        Follows the API's continuation tokens until the whole log is read.
        """
        quote = urllib.parse.quote
        path = (
            f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
            f"/taskInstances/{quote(task_id, safe='')}/logs/{try_number}"
        )
        records: list[dict[str, Any]] = []
        params: dict[str, str | int | bool] = {"map_index": map_index}
        while True:
            page = self.api_get(path, **params)
            records.extend(page["content"])
            token = page.get("continuation_token")
            if not token or not page["content"]:
                return records
            params["token"] = token

    def task_log_records(
        self, dag_id: str, run_id: str, task_id: str, attempt: int = 1
    ) -> list[dict[str, Any]]:
        """The structured (JSON) records of one task attempt's log."""
        text = self.task_log(dag_id, run_id, task_id, attempt)
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def task_log(self, dag_id: str, run_id: str, task_id: str, attempt: int = 1) -> str:
        path = (
            self.home
            / "logs"
            / f"dag_id={dag_id}"
            / f"run_id={run_id}"
            / f"task_id={task_id}"
            / f"attempt={attempt}.log"
        )
        return path.read_text()
