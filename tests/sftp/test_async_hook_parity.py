"""SFTPHookAsync answers as SFTPHook does, against a real OpenSSH sshd on 127.0.0.1 (issue 11, item 7).

Every async hook method that has a sync twin is called on the same paths (files, directories, an
empty directory, symbolic links, a missing path) and must give the same answer; the deferrable
SFTPSensor's trigger must keep waiting on an empty directory with ``file_pattern="*"``, as the
sync sensor does, and fire once a file arrives.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow.providers.sftp.hooks.sftp import SFTPHook, SFTPHookAsync
from airflow.providers.sftp.sensors.sftp import SFTPSensor
from airflow.providers.sftp.triggers.sftp import SFTPTrigger

from .conftest import Server


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "emptysub").mkdir()
    (root / "a.txt").write_text("a")
    (root / "b.csv").write_text("b,b")
    (root / "sub" / "c.txt").write_text("c")
    (root / "sub" / "deeper" / "d.txt").write_text("d")
    (root / "link").symlink_to(root / "a.txt")
    (root / "dlink").symlink_to(root / "sub")
    os.utime(root / "a.txt", (1_600_000_000, 1_600_000_000))
    return root


@pytest.fixture
def sync_hook(server: Server) -> Iterator[SFTPHook]:
    hook = SFTPHook(ssh_conn_id=server.conn_id)
    with hook.get_managed_conn():
        yield hook


def _paths(tree: Path) -> list[str]:
    names = ["", "a.txt", "link", "dlink", "sub", "emptysub", "sub/c.txt", "missing", "missing/x"]
    return [str(tree / name) if name else str(tree) for name in names]


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_checks_and_listings_match_the_sync_hook(
    server: Server, tree: Path, sync_hook: SFTPHook
) -> None:
    async with SFTPHookAsync(sftp_conn_id=server.conn_id) as async_hook:
        await _compare(tree, sync_hook, async_hook)


async def _compare(tree: Path, sync_hook: SFTPHook, async_hook: SFTPHookAsync) -> None:
    for path in _paths(tree):
        for method in ("isdir", "isfile", "path_exists"):
            assert await getattr(async_hook, method)(path) == getattr(sync_hook, method)(path), (method, path)
        for recursive in (False, True):
            expected = sync_hook.list_directory(path, recursive=recursive)
            got = await async_hook.list_directory(path, recursive=recursive)
            assert got == expected, (path, recursive)

    root = str(tree)
    assert await async_hook.list_directory(root) == ["a.txt", "b.csv", "dlink", "emptysub", "link", "sub"]
    assert await async_hook.list_directory(str(tree / "emptysub")) == []
    entries = await async_hook.read_directory(root)
    assert sorted(e.filename for e in entries) == sorted(
        a.filename for a in sync_hook.list_directory_with_attr(root)
    )
    assert await async_hook.read_directory(str(tree / "emptysub")) == []
    assert await async_hook.read_directory(str(tree / "missing")) is None

    sync_map = [sorted(part) for part in sync_hook.get_tree_map(root)]
    async_map = [sorted(part) for part in await async_hook.get_tree_map(root)]
    assert async_map == sync_map
    for pattern in ("*", "*.txt", "*link", "nothing*"):
        expected = sorted(sync_hook.get_files_by_pattern(root, pattern))
        got = sorted(str(f.filename) for f in await async_hook.get_files_and_attrs_by_pattern(root, pattern))
        assert got == expected, pattern
    assert await async_hook.get_files_and_attrs_by_pattern(str(tree / "emptysub"), "*") == []
    assert sync_hook.get_files_by_pattern(str(tree / "emptysub"), "*") == []
    for name in ("a.txt", "link", "sub"):
        path = str(tree / name)
        assert await async_hook.get_mod_time(path) == sync_hook.get_mod_time(path), name

    with pytest.raises(OSError):
        sync_hook.walktree(str(tree / "missing"), print, print, print)
    with pytest.raises(Exception):  # noqa: B017 - asyncssh's SFTPNoSuchFile, as paramiko's FileNotFoundError
        await async_hook.walktree(str(tree / "missing"), print, print, print)


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_deferrable_sensor_keeps_waiting_on_an_empty_directory(server: Server, tmp_path: Path) -> None:
    empty = tmp_path / "inbox"
    empty.mkdir()
    sensor = SFTPSensor(task_id="sense", sftp_conn_id=server.conn_id, path=str(empty), file_pattern="*")
    assert sensor.poke({}) is False, "the sync sensor keeps waiting"

    trigger = SFTPTrigger(path=str(empty), file_pattern="*", sftp_conn_id=server.conn_id, poke_interval=0.2)
    events = trigger.run()
    first = asyncio.ensure_future(anext(events))
    done, _ = await asyncio.wait({first}, timeout=2.0)
    assert not done, f"the trigger fired on an empty directory: {first.result().payload if done else ''}"

    (empty / "arrived.xml").write_text("<x/>")
    event = await asyncio.wait_for(first, timeout=10)
    await events.aclose()
    assert event.payload == {"status": "success", "message": "Sensed 1 files: ['arrived.xml']"}
    assert sensor.poke({}) is True


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_deferrable_sensor_without_pattern_waits_for_a_file_not_a_directory(
    server: Server, tmp_path: Path
) -> None:
    """Without file_pattern the sync sensor senses regular files only (isfile); so must the trigger."""
    target = tmp_path / "expected"
    target.mkdir()  # a directory where a file is awaited
    sensor = SFTPSensor(task_id="sense", sftp_conn_id=server.conn_id, path=str(target))
    assert sensor.poke({}) is False

    trigger = SFTPTrigger(path=str(target), file_pattern="", sftp_conn_id=server.conn_id, poke_interval=0.2)
    events = trigger.run()
    first = asyncio.ensure_future(anext(events))
    done, _ = await asyncio.wait({first}, timeout=2.0)
    assert not done, f"the trigger sensed a directory: {first.result().payload if done else ''}"

    target.rmdir()
    target.write_text("now a file")
    event = await asyncio.wait_for(first, timeout=10)
    await events.aclose()
    assert event.payload == {"status": "success", "message": f"Sensed file: {target}"}
    assert sensor.poke({}) is True
