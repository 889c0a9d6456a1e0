"""Faults of the fork's bulk SFTP transfers against a real OpenSSH sshd on 127.0.0.1 (issue 11, items 3-6).

* the SSH connection killed while the remote tree is listed (get_directory, SFTPBulkOperator);
* sshd restarted with seconds of downtime, and down for longer than the outage tolerance;
* the local disk full (a small tmpfs): no truncated file under a final name or reported transferred;
* empty directories recreated by directory downloads and uploads.

Connections are killed on the server (the per-connection sshd processes, forktool.stack.sshd), at a chosen
point of the listing: the kill is made from inside the client's directory iteration, so it always
lands while a directory handle is open and more READDIR requests are due.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from airflow.providers.sftp.operators.sftp import SFTPBulkOperator
from airflow.providers.sftp.pools import transfer
from airflow.providers.sftp.pools.sftp import SFTPClientPool
from forktool.stack.sshd import Sshd

from .conftest import Server, _port, _stop


def make_tree(root: Path, dirs: int, files_per_dir: int, seed: int = 11) -> dict[str, str]:
    """`dirs` directories of `files_per_dir` small files (1-4 KB), plus two empty directories."""
    rng = random.Random(seed)
    sums = {}
    for d in range(dirs):
        for f in range(files_per_dir):
            rel = f"d{d:03d}/f{f:03d}.bin"
            body = rng.randbytes(rng.randint(1024, 4096))
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(body)
            sums[rel] = hashlib.sha256(body).hexdigest()
    (root / "empty").mkdir(parents=True)
    (root / "d000" / "empty-too" / "deeper").mkdir(parents=True)
    return sums


EMPTY_DIRS = ("empty", "d000/empty-too", "d000/empty-too/deeper")


def check_tree(root: Path, sums: dict[str, str]) -> list[str]:
    """Problems of a downloaded/uploaded copy: missing or wrong files, missing empty dirs, leftovers."""
    problems = []
    for rel, digest in sums.items():
        path = root / rel
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"bad file {rel}")
    problems += [f"missing directory {rel}" for rel in EMPTY_DIRS if not (root / rel).is_dir()]
    problems += [f"leftover {p}" for p in root.rglob("*.sftp-part")]
    return problems


@pytest.fixture
def kill_while_listing(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[set[int]]:
    """
    Kill every server-side SSH connection after the first entry of the given scandir() calls.

    Yields the set of (1-based) scandir call numbers to kill at; the test fills it.
    """
    kill_at: set[int] = set()
    calls = 0
    original = asyncssh.SFTPClient.scandir

    def scandir(self: asyncssh.SFTPClient, path: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        nonlocal calls
        calls += 1
        number = calls

        async def entries() -> AsyncIterator[Any]:
            killed = False
            async with contextlib.aclosing(original(self, path, *args, **kwargs)) as listing:
                async for entry in listing:
                    yield entry
                    if number in kill_at and not killed:
                        killed = True
                        assert server.sshd.kill_connections(), "no server-side connection to kill"
                        await asyncio.sleep(0.3)  # the close reaches the client before the next READDIR

        return entries()

    monkeypatch.setattr(asyncssh.SFTPClient, "scandir", scandir)
    yield kill_at
    assert calls >= min(kill_at, default=0), f"only {calls} directories were listed"


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_get_directory_survives_kills_while_listing(
    server: Server, kill_while_listing: set[int], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    sums = make_tree(src, dirs=40, files_per_dir=8)
    kill_while_listing.update({3, 25})
    pool = SFTPClientPool(server.conn_id, pool_size=2)
    dest = tmp_path / "out"

    result = await transfer.get_directory(pool, str(src), str(dest))

    stats = pool.stats()
    await pool.close()
    assert not result.errors and len(result.files) == len(sums)
    assert check_tree(dest, sums) == []
    assert stats is not None and stats.replaced >= 1 and stats.connections_opened >= 2, stats


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_bulk_operator_directory_survives_kill_while_listing(
    server: Server, kill_while_listing: set[int], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    sums = make_tree(src, dirs=20, files_per_dir=5)
    kill_while_listing.add(2)
    dest = tmp_path / "out"
    op = SFTPBulkOperator(
        task_id="get", ssh_conn_id=server.conn_id, remote_path=str(src), local_path=str(dest)
    )

    summary = await op.aexecute(context={})

    await SFTPClientPool(server.conn_id).close()
    assert (summary["files"], summary["failed"], summary["not_tried"]) == (len(sums), 0, 0)
    assert check_tree(dest, sums) == []


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_listing_fails_clearly_when_every_retry_is_killed(
    server: Server, kill_while_listing: set[int], tmp_path: Path
) -> None:
    """A directory cut on every attempt is reported with its path, as the bulk transfer's error."""
    src = tmp_path / "src"
    make_tree(src, dirs=1, files_per_dir=5)
    kill_while_listing.update(range(1, 20))
    pool = SFTPClientPool(server.conn_id, pool_size=1)
    with pytest.raises(transfer.SFTPBulkTransferError, match="listing") as info:
        await transfer.get_directory(pool, str(src), str(tmp_path / "out"), retries=1)
    await pool.close()
    assert not isinstance(info.value, BaseExceptionGroup)
    assert str(src) in info.value.errors


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_directory_transfers_recreate_empty_directories(server: Server, tmp_path: Path) -> None:
    src = tmp_path / "src"
    sums = make_tree(src, dirs=3, files_per_dir=2)
    pool = SFTPClientPool(server.conn_id)
    await transfer.get_directory(pool, str(src), str(tmp_path / "got"))
    await transfer.put_directory(pool, str(src), str(tmp_path / "put"))
    await pool.close()
    assert check_tree(tmp_path / "got", sums) == []
    assert check_tree(tmp_path / "put", sums) == []

    # The operator, both ways; a pattern selects files, the tree's directories are kept.
    for operation, local, remote in (("get", "op-got", str(src)), ("put", str(src), "op-put")):
        op = SFTPBulkOperator(
            task_id=operation,
            ssh_conn_id=server.conn_id,
            operation=operation,
            remote_path=remote if operation == "get" else str(tmp_path / remote),
            local_path=str(tmp_path / local) if operation == "get" else local,
            pattern="f000.bin",
        )
        summary = await op.aexecute(context={})
        await SFTPClientPool(server.conn_id).close()
        copy = tmp_path / (local if operation == "get" else remote)
        assert summary["files"] == 3
        assert check_tree(copy, {rel: d for rel, d in sums.items() if rel.endswith("f000.bin")}) == []


class KillAfter(transfer.TransferListener):
    """Kills every server-side connection when the given numbers of files are done (files in flight)."""

    def __init__(self, sshd: Sshd, *after: int) -> None:
        self.sshd, self.after, self.done, self.killed = sshd, set(after), 0, 0

    def on_file(self, path: str, transferred: int, error: BaseException | None) -> None:
        self.done += 1
        if self.done in self.after:
            self.killed += len(self.sshd.kill_connections())


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_uploads_cut_by_killed_connections_leave_no_temporary_files(
    server: Server, tmp_path: Path
) -> None:
    """A fresh user's report: the retried files were right, but each cut upload left its temporary file."""
    src = tmp_path / "src"
    sums = make_tree(src, dirs=4, files_per_dir=40)
    killer = KillAfter(server.sshd, 30, 90)
    pool = SFTPClientPool(server.conn_id)
    try:
        result = await transfer.put_directory(
            pool, str(src), str(tmp_path / "put"), concurrency=8, block_size=1024, listener=killer
        )
    finally:
        await pool.close()
    assert killer.killed >= 2
    assert result.retries > 0  # uploads were in flight when the connections were killed
    assert check_tree(tmp_path / "put", sums) == []  # every file right, no *.sftp-part left


# -- sshd restarted ------------------------------------------------------------------------------
@pytest.fixture
def restartable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """An sshd of this test alone, so that stopping it disturbs no other test."""
    sshd = Sshd(tmp_path / "sshd-restart", _port(), getpass.getuser()).start()
    monkeypatch.setenv("AIRFLOW_CONN_SFTP_RESTART", sshd.airflow_connection())
    yield Server(sshd, "sftp_restart")
    _stop(sshd)


def stop_server(sshd: Sshd) -> None:
    """Stop the listener and every connection, and wait until the port refuses connections."""
    pid = sshd.pid()
    sshd.kill_connections()
    sshd.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", sshd.port)) != 0 and (pid is None or not _alive(pid)):
                return
        time.sleep(0.05)
    raise AssertionError("sshd did not stop")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class StopAfter(transfer.TransferListener):
    """Stops the server when `after` files are done, and starts it again `down` seconds later."""

    def __init__(self, sshd: Sshd, after: int, down: float | None) -> None:
        self.sshd, self.after, self.down = sshd, after, down
        self.done = 0
        self.stopped_at: float | None = None
        self.restarted_at: float | None = None

    def on_file(self, path: str, transferred: int, error: BaseException | None) -> None:
        self.done += 1
        if self.done == self.after:
            stop_server(self.sshd)  # blocks the loop briefly: no file completes meanwhile
            self.stopped_at = time.monotonic()
            if self.down is not None:
                threading.Thread(target=self._restart, daemon=True).start()

    def _restart(self) -> None:
        time.sleep(self.down)
        self.sshd.start()
        self.restarted_at = time.monotonic()


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_transfer_rides_out_sshd_restart(
    restartable: Server, dataset: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    src, sums = dataset
    chosen = sorted(sums)[:1200]
    listener = StopAfter(restartable.sshd, after=300, down=6.0)
    pool = SFTPClientPool(restartable.conn_id, pool_size=2)
    dest = tmp_path / "out"

    result = await transfer.get_files(
        pool, {f"{src}/{rel}": str(dest / rel) for rel in chosen}, listener=listener, outage_timeout=30
    )

    await pool.close()
    assert listener.stopped_at is not None and listener.restarted_at is not None
    assert listener.restarted_at - listener.stopped_at >= 6.0
    assert not result.errors and result.aborted is None and len(result.files) == len(chosen)
    for rel in chosen:
        assert hashlib.sha256((dest / rel).read_bytes()).hexdigest() == sums[rel], rel
    assert list(dest.rglob("*.sftp-part")) == []


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_outage_longer_than_tolerance_aborts_with_one_clear_error(
    restartable: Server, dataset: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    src, sums = dataset
    chosen = sorted(sums)[:1200]
    listener = StopAfter(restartable.sshd, after=200, down=None)
    pool = SFTPClientPool(restartable.conn_id, pool_size=2)
    dest = tmp_path / "out"

    started = time.monotonic()
    with pytest.raises(transfer.SFTPTransferAbortedError) as info:
        await transfer.get_files(
            pool, {f"{src}/{rel}": str(dest / rel) for rel in chosen}, listener=listener, outage_timeout=3
        )
    elapsed = time.monotonic() - started
    aborted_after = time.monotonic() - (listener.stopped_at or 0)
    await pool.close()

    error = info.value
    assert isinstance(error, transfer.SFTPBulkTransferError)
    assert listener.stopped_at is not None
    assert 3 <= aborted_after < 20, "waited for outage_timeout, not much longer"
    assert error.waited is not None and error.waited >= 3
    assert error.not_tried and error.done >= 200
    assert error.done + len(error.errors) + len(error.not_tried) == len(chosen), "every file accounted for"
    message = str(error)
    assert f"{len(error.not_tried)} file(s) not tried" in message and "outage_timeout" in message, message
    assert f"{error.done} file(s) transferred" in message
    # What was reported transferred is there and intact; nothing else is under a final name.
    for remote in error.not_tried:
        assert not (dest / os.path.relpath(remote, src)).exists()
    got = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
    assert got == set(chosen) - {os.path.relpath(r, src) for r in [*error.not_tried, *error.errors]}
    assert elapsed < 60


# -- local disk full -------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 100 KiB tmpfs: 25 pages, so the fourth 31,084-byte file gets one (needs root; skipped otherwise)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if not shutil.which("mount"):
        pytest.skip("no mount command: cannot create a small tmpfs to fill")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(
            f"mounting a tmpfs is not permitted here ({proc.stderr.strip()}); the disk-full case "
            "is covered by the injected-write unit tests of pools/test_transfer.py"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.asyncio
@pytest.mark.timeout(60)
@pytest.mark.parametrize("via", ["get_directory", "get_files"])
async def test_full_local_disk_never_reports_truncated_files(
    server: Server, small_disk: Path, tmp_path: Path, via: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(5)
    sums = {}
    for i in range(12):  # 12 x 31,084 bytes (8 pages each): three fit, the fourth is cut at 4,096 bytes
        body = rng.randbytes(31_084)
        (src / f"f{i:02d}.bin").write_bytes(body)
        sums[f"f{i:02d}.bin"] = hashlib.sha256(body).hexdigest()
    pool = SFTPClientPool(server.conn_id, pool_size=1)
    if via == "get_directory":
        result = await transfer.get_directory(pool, str(src), str(small_disk), raise_on_error=False)
    else:
        files = {str(src / rel): str(small_disk / rel) for rel in sums}
        result = await transfer.get_files(pool, files, raise_on_error=False, concurrency=4)
    await pool.close()

    assert result.errors, "the disk filled up, some files must have failed"
    assert len(result.files) + len(result.errors) == len(sums)
    for remote, exc in result.errors.items():
        assert isinstance(exc, OSError), (remote, exc)
    for path in small_disk.iterdir():
        assert not path.name.endswith(".sftp-part"), f"temporary file left: {path.name}"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sums[path.name], (
            f"{path.name} is under its final name with {path.stat().st_size} of 31084 bytes"
        )
    assert sorted(p.name for p in small_disk.iterdir()) == sorted(os.path.basename(f) for f in result.files)
    with pytest.raises(transfer.SFTPBulkTransferError, match=r"Errno 28"):
        result.raise_for_errors()
