"""./fork demo: build the patched Airflow and run the demo DAG through `airflow dags test` on SQLite."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from forktool.env import ensure_env, env_vars
from forktool.errors import ForkError
from forktool.pins import Pins
from forktool.progress import say
from forktool.workspace import Workspace

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
    shown = subprocess.run([str(python), str(ws.root / "demo" / "show_run.py"), DEMO_DAG], env=env).returncode
    return shown or sftp_scenario(ws, pins, label, python, env, airflow)


def sftp_scenario(
    ws: Workspace, pins: Pins, label: str, python: Path, env: dict[str, str], airflow: str
) -> int:
    """The seed's scenario: 17,000 XML files from a loopback sshd, downloaded by one async task through
    the fork's pool under real Airflow, checked, and compared with upstream's async hook and pool."""
    from forktool import bench_sftp
    from forktool.airflow_stack import free_port
    from forktool.sshd import Sshd

    data = ws.state / "bench-data" / f"sftp-{SFTP_FILES}-seed{SFTP_SEED}"
    say(f"generating the data set: {SFTP_FILES} XML files of 2-20 KB (cached in {data})")
    sums = bench_sftp.generate_dataset(data, SFTP_FILES, SFTP_SEED)
    sshd = Sshd(ws.state / "demo" / "sshd", free_port(), getpass.getuser()).start()
    out = Path(tempfile.mkdtemp(prefix="aip98-sftp-demo-", dir=bench_sftp.scratch_root(ws, 250_000_000)))
    try:
        env = dict(env, AIRFLOW_CONN_SFTP_DEMO=sshd.airflow_connection())
        conf = json.dumps({"remote_dir": str(data), "local_dir": str(out / "fork")})
        log = ws.state / "demo" / "airflow-home" / "sftp-dags-test.log"
        argv = [airflow, "dags", "test", SFTP_DAG, "-c", conf]
        _step(f"running `airflow dags test {SFTP_DAG}` (loopback sshd)", argv, env, log)
        line = next(
            (ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("downloaded ")), ""
        )
        bad = bench_sftp.verify(out / "fork", sums)
        if bad:
            raise ForkError(f"{bad} downloaded file(s) do not match their checksum", f"see {log}")
        print(f"fork:     {line} (every checksum verified)")
        say(
            "the same download with upstream's SFTPHookAsync and SFTPClientPool, in the unpatched environment"
        )
        base_python = ensure_env(ws, pins, label, base=True)
        upstream = bench_sftp.measure_contender(ws, sshd, data, sums, out, base_python, "base-pool")
        if upstream.bad:
            raise ForkError(
                f"upstream's pool delivered {upstream.bad} file(s) that do not match their checksum"
            )
        print(f"upstream: downloaded {len(sums)} files in {upstream.seconds:.1f}s (every checksum verified)")
        fork_seconds = float(line.rsplit(" in ", 1)[1].rstrip("s")) if " in " in line else 0.0
        if fork_seconds:
            print(f"the fork's pool: {upstream.seconds / fork_seconds:.1f}x upstream's speed on this machine")
        return 0
    finally:
        sshd.stop()
        shutil.rmtree(out, ignore_errors=True)
