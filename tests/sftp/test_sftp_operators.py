"""SFTPBulkOperator and SFTPOperator.partial().iterate() through a real Airflow
(tests/dags/sftp_operator_dags.py), against an OpenSSH sshd on 127.0.0.1 whose log counts every SSH
connection it accepted."""

from __future__ import annotations

import getpass
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from forktool.stack.sftp_dataset import verify
from forktool.stack.sshd import Sshd

from .conftest import Server, _port, _stop


@pytest.fixture(scope="module")
def logging_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An sshd that logs one ``Accepted publickey`` line per SSH connection it authenticates."""
    home = tmp_path_factory.mktemp("sshd-counting")
    sshd = Sshd(
        home, _port(), getpass.getuser(), extra_config="Match Address 127.0.0.1\n  LogLevel INFO"
    ).start()
    yield Server(sshd, "sftp_ops")
    _stop(sshd)


def accepted(server: Server) -> int:
    """SSH connections the server authenticated so far."""
    return (server.sshd.home / "sshd.log").read_text().count("Accepted publickey for ")


def env(server: Server) -> dict[str, str]:
    return {"AIRFLOW_CONN_SFTP_OPS": server.sshd.airflow_connection()}


@pytest.mark.timeout(600)
def test_bulk_operator_downloads_tree_with_progress(stack, logging_server, dataset, tmp_path: Path):
    remote_dir, sums = dataset
    local_dir = tmp_path / "bulk"
    before = accepted(logging_server)
    result = stack.run_dag(
        "sftp_bulk_get",
        conf={"remote_dir": remote_dir, "local_dir": str(local_dir)},
        env=env(logging_server),
        timeout=500,
    )
    assert result.state == "success", result.output[-3000:]
    assert verify(local_dir, sums) == 0, "every file arrives intact and no temporary file is left"
    opened = accepted(logging_server) - before
    assert 1 <= opened <= 2, f"the pool's connections (pool_size 2), not one per file: {opened}"
    assert logging_server.wait_conns(0) == 0, "the pool closed its connections with the task's loop"

    records = stack.task_log_records("sftp_bulk_get", result.run_id, "bulk_get", 1)
    progress = [r for r in records if r.get("event") == "Task progress"]
    assert len(progress) >= 2
    dones = [r["done"] for r in progress]
    assert dones == sorted(dones), "file counts are monotonic"
    assert [r["bytes"] for r in progress] == sorted(r["bytes"] for r in progress)
    total_bytes = sum(p.stat().st_size for p in Path(remote_dir).rglob("*") if p.is_file())
    assert all(r["total"] == len(sums) and r["bytes_total"] == total_bytes for r in progress)
    (summary,) = [r for r in records if r.get("event") == "Task progress summary"]
    assert (summary["done"], summary["failed"], summary["bytes"]) == (len(sums), 0, total_bytes)

    run_id = urllib.parse.quote(result.run_id, safe="")
    xcom = stack.api_get(
        f"dags/sftp_bulk_get/dagRuns/{run_id}/taskInstances/bulk_get/xcomEntries/return_value",
        deserialize=True,
    )
    value = xcom["value"]
    value = json.loads(value) if isinstance(value, str) else value
    assert {k: value[k] for k in ("files", "bytes", "failed")} == {
        "files": len(sums),
        "bytes": total_bytes,
        "failed": 0,
    }
    assert "paths" not in value, "the file list is not pushed unless asked for"


@pytest.mark.timeout(600)
def test_sftp_operator_iterate_reuses_connections(stack, logging_server, dataset, tmp_path: Path):
    remote_dir, sums = dataset
    chosen = sorted(sums)[:50]
    local_dir = tmp_path / "iterated"
    pairs = [[f"{remote_dir}/{rel}", str(local_dir / rel)] for rel in chosen]
    before = accepted(logging_server)
    result = stack.run_dag(
        "sftp_operator_iterate", conf={"pairs": pairs}, env=env(logging_server), timeout=500
    )
    assert result.state == "success", result.output[-3000:]
    assert "get_each" in result.tis and "get_each[0]" not in result.tis, "one task instance"
    assert verify(local_dir, {rel: sums[rel] for rel in chosen}) == 0
    opened = accepted(logging_server) - before
    # 8 item threads, each with its own SFTP session on one shared connection (8 sessions fit on
    # one); upstream opens two connections per file (100 here).
    assert opened == 1, f"SSH connections opened for 50 files: {opened}"
    assert logging_server.wait_conns(0) == 0, "closed at the end of the task"

    records = stack.task_log_records("sftp_operator_iterate", result.run_id, "get_each", 1)
    (summary,) = [r for r in records if r.get("event") == "Task progress summary"]
    assert (summary["done"], summary["failed"]) == (50, 0)
    assert any("Closed shared SFTP connections: opened=1" in str(r.get("event")) for r in records), [
        r.get("event") for r in records[-20:]
    ]
