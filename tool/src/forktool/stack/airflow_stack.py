"""A real, embedded Airflow for the fork's integration tests and benchmarks.

SQLite metadata database, an ``airflow api-server`` on 127.0.0.1 serving the execution API, and
``dag.test(use_executor=True)`` with the LocalExecutor, so that tasks run the way they do in
production: in a forked task process under the Task SDK supervisor (plain ``dag.test()`` runs them
in-process and hides signal, fork and timeout behaviour).

With ``executor="CeleryExecutor"`` the stack runs like a production Celery deployment instead: a
private Redis on 127.0.0.1 (broker and result backend), ``airflow scheduler`` and ``celery_workers``
``airflow celery worker`` processes (prefork pool), DAGs serialized once with ``airflow dags
reserialize``, runs triggered and watched through the REST API. The metadata database stays SQLite:
only the scheduler and the api-server open it (Airflow 3's workers reach it through the execution
API), so one scheduler is safe; Celery's results go to Redis, not to ``db+sqlite``.
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
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forktool.stack.redis_server import RedisServer

#: The program of one DAG run (see its docstring), run with the environment's interpreter.
RUN_DAG = Path(__file__).with_name("run_dag.py")


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
    executor: str = "LocalExecutor"
    celery_workers: int = 2
    celery_concurrency: int = 2
    _api: subprocess.Popen[bytes] | None = None
    _token: str | None = None
    _redis: RedisServer | None = None
    _scheduler: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def celery(self) -> bool:
        return self.executor == "CeleryExecutor"

    @property
    def redis(self) -> RedisServer:
        """The Celery stack's Redis (broker on db 0, Celery results on db 1), on a port chosen once."""
        if self._redis is None:
            self._redis = RedisServer(self.home / "redis", free_port())
        return self._redis

    @property
    def env(self) -> dict[str, str]:
        env = dict(
            os.environ,
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR=self.executor,
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.port}/execution/",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            PATH=f"{self.python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        if self.plugins_folder:
            env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(self.plugins_folder)
        if self.celery:
            redis = self.redis
            env.update(
                AIRFLOW__CELERY__BROKER_URL=redis.url(0),
                AIRFLOW__CELERY__RESULT_BACKEND=redis.url(1),
                AIRFLOW__CELERY__WORKER_CONCURRENCY=str(self.celery_concurrency),
                # Celery's own default, said explicitly (a lost worker's message comes back after it).
                AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT="86400",
                AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
                AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="0.5",
                # A killed worker's task instance is failed (and retried) after 20 s, not 5 min.
                AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
                AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="5",
            )
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

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start ``airflow ARGS`` in its own session (so its whole tree can be signalled), log to NAME.log."""
        with (self.home / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [str(self.python.parent / "airflow"), *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self) -> AirflowStack:
        if self.celery:
            self.redis.start()
        migrate = self.airflow("db", "migrate")
        if migrate.returncode != 0:
            raise RuntimeError(
                f"airflow db migrate failed:\n{migrate.stdout[-2000:]}{migrate.stderr[-2000:]}"
            )
        self._api = self._spawn("api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.port))
        if self.celery:  # all at once: each process spends seconds importing Airflow
            self._scheduler = self._spawn("scheduler", "scheduler", "--skip-serve-logs")
            names = [f"worker{n}" for n in range(1, self.celery_workers + 1)]
            for name in names:
                self._spawn_worker(name)
            parsed = self.airflow("dags", "reserialize")
            if parsed.returncode != 0:
                raise RuntimeError(f"airflow dags reserialize failed:\n{parsed.stderr[-3000:]}")
            for name in names:
                self._wait_worker(name, 0)
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

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        """Start one ``airflow celery worker`` (prefork pool) named ``NAME@localhost``; wait until it is
        ready to take tasks (its ``ready.`` log line)."""
        log = self.home / f"{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        self._spawn_worker(name)
        return self._wait_worker(name, offset)

    def _spawn_worker(self, name: str) -> None:
        self.workers[name] = self._spawn(
            name, "celery", "worker", "--celery-hostname", f"{name}@localhost", "--skip-serve-logs",
            "--without-mingle", "--without-gossip",
        )  # fmt: skip

    def _wait_worker(self, name: str, offset: int) -> subprocess.Popen[bytes]:
        worker, log = self.workers[name], self.home / f"{name}.log"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"celery worker {name} exited; see {log}")
            with log.open("rb") as f:
                f.seek(offset)
                if b"ready." in f.read():
                    return worker
            time.sleep(0.3)
        raise RuntimeError(f"celery worker {name} not ready in 180 s; see {log}")

    def worker_of(self, pid: int) -> str | None:
        """The name of the Celery worker whose process tree holds `pid` (e.g. a task process), or None."""
        roots = {w.pid: name for name, w in self.workers.items()}
        while pid > 1:
            if pid in roots:
                return roots[pid]
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return None
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        return None

    def worker_tree(self, name: str) -> list[int]:
        """Pids of worker `name`'s main process and all its descendants (pool processes, and the task
        processes they supervise, which run in process groups of their own)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:  # exited meanwhile
                    continue
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
        tree, todo = [], [self.workers[name].pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def kill_worker_tree(self, name: str, sig: int = signal.SIGKILL) -> list[int]:
        """Send `sig` to every process of worker `name`'s tree at once, as a host or container that dies
        (or systemd's ``KillMode=control-group``) does; return their pids."""
        pids = self.worker_tree(name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def stop_worker(self, name: str, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
        """Send `sig` to worker `name`'s main process; wait `timeout` s for it to exit (then SIGKILL its
        session). Returns its exit status, None when it had to be killed."""
        worker = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, sig)
        try:
            return worker.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            return None

    def stop(self) -> None:
        for name in list(self.workers):
            self.stop_worker(name, timeout=30)
        for proc in (self._scheduler, self._api):
            if proc and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        self._api = self._scheduler = None
        if self._redis:
            self._redis.stop()

    def run_dag(
        self,
        dag_id: str,
        conf: dict[str, object] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> DagRunResult:
        """Run one DAG run through the LocalExecutor and the real supervisor; wait for it to finish.

        `env` is added to the environment of this run only (its task processes inherit it). On a
        Celery stack the run is triggered through the REST API and runs on the workers, whose
        environment is fixed at their start: give it as `extra_env` of the stack instead.
        """
        if self.celery:
            if env:
                raise ValueError(
                    "a Celery stack's task processes inherit the workers' environment: "
                    "pass these variables as the stack's extra_env"
                )
            return self.trigger_dag(dag_id, conf, timeout=timeout)
        # Its own session, so that executor workers and task processes it leaves behind can be killed;
        # output goes to files, as such leftovers would hold pipes open.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(
                [str(self.python), str(RUN_DAG), str(self.dags_folder), dag_id, json.dumps(conf or {})],
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

    def trigger_dag(
        self, dag_id: str, conf: dict[str, object] | None = None, timeout: float = 300, wait: bool = True
    ) -> DagRunResult:
        """Trigger a run through the REST API (scheduler and executor pick it up); with `wait`, poll until
        it is finished or `timeout` s pass (then the result holds its current state)."""
        run = self.api_request("POST", f"dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return (
            self.wait_dag_run(dag_id, run["dag_run_id"], timeout)
            if wait
            else self.dag_run(dag_id, run["dag_run_id"])
        )

    def dag_run(self, dag_id: str, run_id: str, started: float | None = None) -> DagRunResult:
        """The run's state and its task instances' states and durations, through the REST API."""
        quote = urllib.parse.quote
        run = self.api_get(f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}")
        tis = self.api_get(
            f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances", limit=1000
        )["task_instances"]
        states, durations = {}, {}
        for ti in tis:
            key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            states[key] = ti["state"]
            durations[key] = ti["duration"]
        seconds = time.monotonic() - started if started is not None else 0.0
        return DagRunResult(run_id, run["state"], states, durations, seconds, output="")

    def wait_dag_run(self, dag_id: str, run_id: str, timeout: float = 300) -> DagRunResult:
        started = time.monotonic()
        while True:
            result = self.dag_run(dag_id, run_id, started)
            if result.state in ("success", "failed") or time.monotonic() - started > timeout:
                result.output = self.logs_tail()
                return result
            time.sleep(1)

    def logs_tail(self, chars: int = 3000) -> str:
        """The ends of the stack's server logs (scheduler, workers, api-server), for assertion messages."""
        parts = []
        for log in sorted(self.home.glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    def ti_state(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """One task instance as the REST API gives it (state, try_number, pid, hostname, ...)."""
        quote = urllib.parse.quote
        return dict(
            self.api_get(
                f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
                f"/taskInstances/{quote(task_id, safe='')}"
            )
        )

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """The deserialized value of one XCom, through the REST API."""
        quote = urllib.parse.quote
        entry = self.api_get(
            f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
            f"/taskInstances/{quote(task_id, safe='')}/xcomEntries/{quote(key, safe='')}",
            deserialize=True,
            stringify=False,
        )
        return entry["value"]

    def api_request(self, method: str, path: str, body: object) -> Any:
        """``METHOD /api/v2/{path}`` with a JSON body as an authenticated user; the JSON answer."""
        request = urllib.request.Request(
            f"{self.base_url}/api/v2/{path.lstrip('/')}",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.api_token()}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: HTTP {e.code}: {e.read()[:2000]!r}") from None

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
