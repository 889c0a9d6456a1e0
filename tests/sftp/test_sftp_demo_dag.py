"""The demo's SFTP DAG: one async task downloads a whole tree through the fork's pool, under a real
`airflow dags test`, from a loopback OpenSSH server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from forktool.stack.sftp_dataset import verify


@pytest.mark.timeout(300)
def test_sftp_demo_dag_downloads_every_file(airflow_env, server, dataset, tmp_path: Path):
    remote_dir, sums = dataset
    local_dir = tmp_path / "downloaded"
    env = dict(airflow_env, AIRFLOW_CONN_SFTP_DEMO=server.sshd.airflow_connection())
    conf = json.dumps({"remote_dir": remote_dir, "local_dir": str(local_dir)})
    run = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", "aip98_sftp_demo", "-c", conf],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"downloaded {len(sums)} files" in run.stdout
    assert verify(local_dir, sums) == 0, "every file arrives intact and no temporary file is left"
    assert server.wait_conns(0) == 0, "the pool closed its connections"
