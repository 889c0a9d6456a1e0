"""./fork demo: build the patched Airflow and run the demo DAGs through `airflow dags test` on SQLite, or
(``--executor celery``) through a scheduler and Celery workers on a loopback Redis."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from forktool.errors import ForkError
from forktool.interpreters import Interpreter
from forktool.progress import say
from forktool.series.env import ensure_env, env_vars
from forktool.series.pins import Pins
from forktool.workspace import Workspace

if TYPE_CHECKING:
    from forktool.stack.sshd import Sshd

DEMO_DAG = "aip98_demo"
SFTP_DAG = "aip98_sftp_demo"
SFTP_FILES = 17_000
SFTP_SEED = 17


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


def run_demo(
    ws: Workspace, pins: Pins, label: str, executor: str = "local", interpreter: Interpreter | None = None
) -> int:
    python = ensure_env(ws, pins, label, interpreter=interpreter)
    if executor == "celery":
        code = run_demo_celery(ws, pins, label, python, interpreter)
    else:
        code = run_demo_local(ws, pins, label, python, interpreter)
    if code == 0:
        say(f"demo passed: {DEMO_DAG} and {SFTP_DAG} succeeded, every downloaded file verified")
    return code


def run_demo_local(
    ws: Workspace, pins: Pins, label: str, python: Path, interpreter: Interpreter | None = None
) -> int:
    """Both demo DAGs with ``airflow dags test`` on an embedded SQLite database."""
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
    shown = subprocess.run([str(python), str(ws.root / "demo" / "show_run.py"), DEMO_DAG], env=env).returncode
    return shown or sftp_scenario(ws, pins, label, python, env, airflow, interpreter)


def run_demo_celery(
    ws: Workspace, pins: Pins, label: str, python: Path, interpreter: Interpreter | None = None
) -> int:
    """Both demo DAGs through a production-shaped deployment: Redis on 127.0.0.1, ``airflow scheduler``,
    ``airflow api-server`` and one ``airflow celery worker``, runs triggered through the REST API."""
    from forktool.stack.airflow_stack import AirflowStack, free_port
    from forktool.stack.sftp_dataset import scratch_root
    from forktool.stack.sshd import Sshd

    home = ws.state / "demo" / "celery-home"
    shutil.rmtree(home, ignore_errors=True)  # a fresh SQLite database and logs for every demo
    data, sums = _sftp_dataset(ws)
    sshd = Sshd(ws.state / "demo" / "sshd", free_port(), getpass.getuser()).start()
    stack = AirflowStack(
        home=home,
        dags_folder=ws.root / "demo" / "dags",
        python=python,
        executor="CeleryExecutor",
        celery_workers=1,
        extra_env={
            "AIRFLOW_CONN_SFTP_DEMO": sshd.airflow_connection(),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        },
    )
    out = Path(tempfile.mkdtemp(prefix="aip98-sftp-demo-", dir=scratch_root(ws, 250_000_000)))
    try:
        say("starting Redis, the scheduler, the api-server and a Celery worker on 127.0.0.1")
        stack.start()
        say(f"running {DEMO_DAG} on the Celery worker")
        run = stack.trigger_dag(DEMO_DAG, timeout=300)
        for task_id in run.tis:
            for record in stack.task_log_records(DEMO_DAG, run.run_id, task_id):
                if str(record.get("event", "")).startswith("fetched "):
                    print(record["event"])
        say(f"logs: {home}")
        shown = subprocess.run([str(python), str(ws.root / "demo" / "show_run.py"), DEMO_DAG], env=stack.env)
        if shown.returncode:
            return shown.returncode
        say(f"running {SFTP_DAG} on the Celery worker (loopback sshd)")
        conf: dict[str, object] = {"remote_dir": str(data), "local_dir": str(out / "fork")}
        run = stack.trigger_dag(SFTP_DAG, conf, timeout=900)
        if run.state != "success":
            raise ForkError(f"{SFTP_DAG} ended {run.state}: {run.tis}", f"see the logs under {home}")
        line = next(
            (
                str(r["event"])
                for r in stack.task_log_records(SFTP_DAG, run.run_id, "download_all")
                if str(r.get("event", "")).startswith("downloaded ")
            ),
            "",
        )
        return _compare_with_upstream(ws, pins, label, sshd, data, sums, out, line, home, interpreter)
    finally:
        stack.stop()
        sshd.stop()
        shutil.rmtree(out, ignore_errors=True)


def _sftp_dataset(ws: Workspace) -> tuple[Path, dict[str, str]]:
    from forktool.stack import sftp_dataset

    data = ws.state / "bench-data" / f"sftp-{SFTP_FILES}-seed{SFTP_SEED}"
    say(f"generating the data set: {SFTP_FILES} XML files of 2-20 KB (cached in {data})")
    return data, sftp_dataset.generate_dataset(data, SFTP_FILES, SFTP_SEED)


def sftp_scenario(
    ws: Workspace,
    pins: Pins,
    label: str,
    python: Path,
    env: dict[str, str],
    airflow: str,
    interpreter: Interpreter | None = None,
) -> int:
    """The seed's scenario: 17,000 XML files from a loopback sshd, downloaded by one async task through
    the fork's pool under real Airflow, checked, and compared with upstream's async hook and pool."""
    from forktool.stack.airflow_stack import free_port
    from forktool.stack.sftp_dataset import scratch_root
    from forktool.stack.sshd import Sshd

    data, sums = _sftp_dataset(ws)
    sshd = Sshd(ws.state / "demo" / "sshd", free_port(), getpass.getuser()).start()
    out = Path(tempfile.mkdtemp(prefix="aip98-sftp-demo-", dir=scratch_root(ws, 250_000_000)))
    try:
        env = dict(env, AIRFLOW_CONN_SFTP_DEMO=sshd.airflow_connection())
        conf = json.dumps({"remote_dir": str(data), "local_dir": str(out / "fork")})
        log = ws.state / "demo" / "airflow-home" / "sftp-dags-test.log"
        argv = [airflow, "dags", "test", SFTP_DAG, "-c", conf]
        _step(f"running `airflow dags test {SFTP_DAG}` (loopback sshd)", argv, env, log)
        line = next(
            (ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("downloaded ")), ""
        )
        return _compare_with_upstream(ws, pins, label, sshd, data, sums, out, line, log, interpreter)
    finally:
        sshd.stop()
        shutil.rmtree(out, ignore_errors=True)


def _compare_with_upstream(
    ws: Workspace,
    pins: Pins,
    label: str,
    sshd: Sshd,
    data: Path,
    sums: dict[str, str],
    out: Path,
    line: str,
    log: Path,
    interpreter: Interpreter | None = None,
) -> int:
    """Verify the fork's download in `out`/fork, print `line`, then time upstream's pool on the same tree."""
    from forktool.bench.sftp import measure_contender
    from forktool.stack.sftp_dataset import verify

    bad = verify(out / "fork", sums)
    if bad:
        raise ForkError(f"{bad} downloaded file(s) do not match their checksum", f"see {log}")
    print(f"fork:     {line} (every checksum verified)")
    say("the same download with upstream's SFTPHookAsync and SFTPClientPool, in the unpatched environment")
    base_python = ensure_env(ws, pins, label, base=True, interpreter=interpreter)
    upstream = measure_contender(ws, sshd, data, sums, out, base_python, "base-pool")
    if upstream.bad:
        raise ForkError(f"upstream's pool delivered {upstream.bad} file(s) that do not match their checksum")
    print(f"upstream: downloaded {len(sums)} files in {upstream.seconds:.1f}s (every checksum verified)")
    fork_seconds = float(line.rsplit(" in ", 1)[1].rstrip("s")) if " in " in line else 0.0
    if fork_seconds:
        print(f"the fork's pool: {upstream.seconds / fork_seconds:.1f}x upstream's speed on this machine")
    return 0
