"""Fault tests of the fork's SFTPClientPool and bulk transfers against a real OpenSSH sshd on 127.0.0.1.

Server-side faults (connections killed, sessions dropped for idleness) are caused and connections
are counted on the server, through forktool.stack.sshd.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh
import pytest
from airflow.providers.sftp.pools import transfer
from airflow.providers.sftp.pools.sftp import (
    SFTPClientPool,
    SFTPPoolClosedError,
    SFTPPoolStats,
    SFTPPoolTimeoutError,
)

if TYPE_CHECKING:
    from .conftest import Server


def verify(root: str, sums: dict[str, str]) -> list[str]:
    """Relative paths under `root` that are missing or whose SHA-256 differs."""
    bad = []
    for rel, digest in sums.items():
        try:
            with open(os.path.join(root, rel), "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != digest:
                    bad.append(rel)
        except OSError:
            bad.append(rel)
    return bad


def part_files(root: str) -> list[str]:
    """Temporary files of atomic downloads or uploads left under `root`."""
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".sftp-part")]


def stats_of(pool: SFTPClientPool) -> SFTPPoolStats:
    stats = pool.stats()
    assert stats is not None, "the pool was not used on this event loop"
    return stats


@pytest.mark.asyncio
@pytest.mark.timeout(180)
async def test_connections_killed_mid_transfer(
    server: Server, dataset: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    src, sums = dataset
    pool = SFTPClientPool(server.conn_id, pool_size=2)
    dest = str(tmp_path / "out")
    run = asyncio.create_task(transfer.get_directory(pool, src, dest))
    # Kill every per-connection sshd process twice while files are in flight.
    for _ in range(2):
        for _ in range(200):
            await asyncio.sleep(0.02)
            if (os.listdir(dest) if os.path.isdir(dest) else []) and server.conns() >= 1:
                break
        await asyncio.sleep(0.2)
        await asyncio.to_thread(server.kill_conns)
    result = await run
    stats = stats_of(pool)
    await pool.close()
    assert not result.errors
    assert result.retries > 0, "the kill did not hit a transfer in flight"
    assert stats.replaced >= 1 and stats.connections_opened >= 3
    assert verify(dest, sums) == []
    assert part_files(dest) == []
    assert server.wait_conns(0) == 0


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_killed_idle_connections_are_replaced(server: Server) -> None:
    pool = SFTPClientPool(server.conn_id, pool_size=1, health_check_after=0)
    async with pool.get_sftp_client() as sftp:
        assert await sftp.isdir("/")
    assert server.wait_conns(1) == 1
    await asyncio.to_thread(server.kill_conns)
    assert server.wait_conns(0) == 0
    # The next use must succeed without the caller seeing the dead connection.
    async with pool.get_sftp_client() as sftp:
        assert await sftp.isdir("/")
    stats = stats_of(pool)
    assert stats.connections_opened == 2 and stats.replaced == 1
    await pool.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_server_idle_timeout_drops_sessions(idle_server: Server) -> None:
    pool = SFTPClientPool(idle_server.conn_id, pool_size=1)
    async with pool.get_sftp_client() as sftp:
        assert await sftp.isdir("/")
    await asyncio.sleep(4)  # the server closes the idle SFTP session (ChannelTimeout session:*=1)
    for _ in range(3):
        async with pool.get_sftp_client() as sftp:
            assert await sftp.isdir("/")
    stats = stats_of(pool)
    assert stats.replaced >= 1 and stats.channels_opened >= 2
    await pool.close()
    assert idle_server.wait_conns(0) == 0


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_random_cancellations_keep_pool_intact(server: Server) -> None:
    pool = SFTPClientPool(server.conn_id, pool_size=2, max_concurrency_per_channel=4)
    rng = random.Random(1)

    async def user(i: int) -> None:
        async with pool.get_sftp_client() as sftp:
            if i % 3:
                await sftp.realpath(".")
            await asyncio.sleep(rng.random() * 0.002)

    tasks = []
    for i in range(1000):
        t = asyncio.create_task(user(i))
        tasks.append(t)
        if rng.random() < 0.4:
            await asyncio.sleep(rng.random() * 0.002)
            t.cancel()
        if i % 50 == 0:
            await asyncio.sleep(0)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    cancelled = sum(isinstance(r, asyncio.CancelledError) for r in results)
    assert all(r is None or isinstance(r, asyncio.CancelledError) for r in results), results
    assert cancelled > 100
    state = pool._states[asyncio.get_running_loop()]
    assert not state.leases and all(ch.leases == 0 for ch in state.live_channels())
    # Full capacity is still there, and no connection leaked.
    leases = [await pool.acquire(timeout=5) for _ in range(pool.capacity)]
    with pytest.raises(SFTPPoolTimeoutError):
        await pool.acquire(timeout=0.2)
    for lease in leases:
        lease.release()
    assert server.wait_conns(2) <= 2
    assert stats_of(pool).connections_opened <= 2 + stats_of(pool).replaced
    await pool.close()
    assert server.wait_conns(0) == 0


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_missing_remote_file_keeps_connection(
    server: Server, dataset: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    src, sums = dataset
    pool = SFTPClientPool(server.conn_id, pool_size=1)
    rel = sorted(sums)[:20]
    files = {f"{src}/{r}": str(tmp_path / r) for r in rel}
    files[f"{src}/does/not/exist.xml"] = str(tmp_path / "missing.xml")
    with pytest.raises(transfer.SFTPBulkTransferError, match="remote file not found") as err:
        await transfer.get_files(pool, files)
    assert list(err.value.errors) == [f"{src}/does/not/exist.xml"]
    assert isinstance(err.value.errors[f"{src}/does/not/exist.xml"], asyncssh.SFTPNoSuchFile)
    assert verify(str(tmp_path), {r: sums[r] for r in rel}) == []
    assert server.wait_conns(1) == 1
    # A local error (missing local directory) and a user exception keep it too.
    with pytest.raises(transfer.SFTPBulkTransferError):
        await transfer.get_files(pool, {f"{src}/{rel[0]}": "/nonexistent-dir/x"}, create_dirs=False)
    with pytest.raises(ZeroDivisionError):
        async with pool.get_sftp_client():
            1 / 0  # noqa: B018
    result = await transfer.get_files(pool, {f"{src}/{rel[0]}": str(tmp_path / "again.xml")})
    assert len(result.files) == 1
    stats = stats_of(pool)
    assert stats.connections_opened == 1 and stats.replaced == 0
    assert server.conns() == 1
    assert not os.path.exists(tmp_path / "missing.xml") and part_files(str(tmp_path)) == []
    await pool.close()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_close_waits_for_users_and_never_deadlocks(server: Server) -> None:
    pool = SFTPClientPool(server.conn_id, pool_size=1)
    acquired = asyncio.Event()
    done = []

    async def user() -> None:
        async with pool.get_sftp_client() as sftp:
            acquired.set()
            await asyncio.sleep(0.3)
            await sftp.realpath(".")  # still works: close() waits for it
            done.append(True)

    t = asyncio.create_task(user())
    await acquired.wait()
    await pool.close(timeout=5)
    assert done == [True]
    await t
    assert server.wait_conns(0) == 0
    # An acquire waiting while the pool closes fails with a clear error.
    pool2 = SFTPClientPool(server.conn_id + "_2", pool_size=1, max_concurrency_per_channel=1)
    held = await pool2.acquire()
    waiting = asyncio.create_task(pool2.acquire())
    await asyncio.sleep(0.05)
    closing = asyncio.create_task(pool2.close(timeout=0.5))
    with pytest.raises(SFTPPoolClosedError):
        await waiting
    await closing
    held.release()
    # Closing from a task that holds a lease aborts instead of deadlocking.
    lease = await pool.acquire()
    async with asyncio.timeout(5):
        await pool.close(timeout=60)
    lease.release()
    assert server.wait_conns(0) == 0


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_acquire_after_close_reopens_fresh_pool(server: Server) -> None:
    pool = SFTPClientPool(server.conn_id, pool_size=1)
    async with pool.get_sftp_client() as sftp:
        await sftp.realpath(".")
    await pool.close()
    assert server.wait_conns(0) == 0
    async with pool.get_sftp_client() as sftp:
        await sftp.realpath(".")
    assert stats_of(pool).connections_opened == 1
    assert server.wait_conns(1) == 1
    await pool.close()
    assert server.wait_conns(0) == 0


@pytest.mark.timeout(30)
def test_conflicting_options_raise(server: Server) -> None:
    SFTPClientPool(server.conn_id, pool_size=2)
    assert SFTPClientPool(server.conn_id) is SFTPClientPool(server.conn_id, pool_size=2)
    with pytest.raises(ValueError, match="pool_size=3"):
        SFTPClientPool(server.conn_id, pool_size=3)


@pytest.mark.timeout(60)
def test_loop_shutdown_closes_connections(server: Server) -> None:
    pool = SFTPClientPool(server.conn_id, pool_size=2)
    live: list[int] = []

    async def use() -> None:
        async with pool.get_sftp_client() as sftp:
            await sftp.realpath(".")
            live.append(server.conns())

    for _ in range(3):  # every asyncio.run() is a new loop: nothing may stay open after it
        asyncio.run(use())
        assert server.wait_conns(0) == 0

    # And from another thread's loop as well.
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            asyncio.run(use())
        except BaseException as exc:
            errors.append(exc)

    th = threading.Thread(target=in_thread)
    th.start()
    th.join()
    assert errors == []
    assert server.wait_conns(0) == 0
    assert len(live) == 4 and min(live) >= 1, live  # each loop really had a connection open


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_upload_roundtrip(server: Server, tmp_path: Path) -> None:
    local = tmp_path / "up"
    for i in range(50):
        (local / f"s{i % 3}").mkdir(parents=True, exist_ok=True)
        (local / f"s{i % 3}" / f"f{i}.bin").write_bytes(os.urandom(1000 + i * 3000))
    (local / "big.bin").write_bytes(os.urandom(3_000_000))
    pool = SFTPClientPool(server.conn_id)
    remote = str(tmp_path / "remote")
    r = await transfer.put_directory(pool, str(local), remote, preserve=True, confirm=True)
    assert not r.errors and len(r.files) == 51
    back = str(tmp_path / "back")
    r = await transfer.get_directory(pool, remote, back, preserve=True)
    assert len(r.files) == 51
    for path in local.rglob("*.bin"):
        twin = os.path.join(back, os.path.relpath(path, local))
        with open(twin, "rb") as f:
            assert f.read() == path.read_bytes()
        assert int(os.stat(twin).st_mtime) == int(path.stat().st_mtime)
    assert part_files(remote) == [] and part_files(back) == []
    await pool.close()
