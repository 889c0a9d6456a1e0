"""Fixtures of the SFTP pool's fault tests: private OpenSSH sshd servers on 127.0.0.1 (forktool.stack.sshd)."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from forktool.stack.airflow_stack import free_port
from forktool.stack.sftp_dataset import generate_dataset
from forktool.stack.sshd import Sshd

RESERVED_PORTS = {22, 2222, 2223}  # the system's sshd and hand-started scratch servers


@dataclass(frozen=True)
class Server:
    """A running sshd and the Airflow connection id that points at it."""

    sshd: Sshd
    conn_id: str

    def conns(self) -> int:
        """Live SSH connections, counted on the server (per-connection sshd processes)."""
        return len(self.sshd.connections())

    def wait_conns(self, expected: int, timeout: float = 5.0) -> int:
        return self.sshd.wait_connections(expected, timeout)

    def kill_conns(self) -> None:
        self.sshd.kill_connections()


def _port() -> int:
    while (port := free_port()) in RESERVED_PORTS:
        pass
    return port


def _start(home: Path, extra_config: str = "") -> Sshd:
    return Sshd(home, _port(), getpass.getuser(), extra_config=extra_config).start()


def _stop(sshd: Sshd) -> None:
    sshd.kill_connections()
    sshd.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One sshd for the session; connections sftp_it and sftp_it_2 both point at it."""
    sshd = _start(tmp_path_factory.mktemp("sshd"))
    with pytest.MonkeyPatch.context() as mp:
        for conn_id in ("sftp_it", "sftp_it_2"):
            mp.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", sshd.airflow_connection())
        yield Server(sshd, "sftp_it")
    _stop(sshd)


@pytest.fixture
def idle_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A second sshd that closes SFTP sessions idle for 1 second (OpenSSH ``ChannelTimeout``)."""
    sshd = _start(tmp_path / "sshd-idle", extra_config="ChannelTimeout session:*=1")
    monkeypatch.setenv("AIRFLOW_CONN_SFTP_IDLE", sshd.airflow_connection())
    yield Server(sshd, "sftp_idle")
    _stop(sshd)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """3,000 seeded XML files (2-20 KB) to download: (directory, {relative path: sha256})."""
    root = tmp_path_factory.mktemp("dataset") / "src"
    return str(root), generate_dataset(root, 3000, 7)


@pytest.fixture(autouse=True)
def fresh_pools() -> Iterator[None]:
    """Pools are process-wide per connection id: every test starts without any."""
    from airflow.providers.sftp.pools.sftp import SFTPClientPool

    SFTPClientPool._instances.clear()
    yield
    SFTPClientPool._instances.clear()
