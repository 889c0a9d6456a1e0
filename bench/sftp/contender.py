"""One contender of `./fork bench sftp`, run as a subprocess by the interpreter of the environment under test.

    python contender.py NAME --src SRC_DIR --dest DEST_DIR --list FILE_LIST [--pool-size N] [--in-flight N]
        [--uvloop] [--profile FILE]

Downloads read SRC_DIR on the server into the local DEST_DIR; uploads (fork-put, fork-bulk-op-put) write
the local SRC_DIR to DEST_DIR on the server.

Prints one JSON line {"name", "files", "seconds", "cpu", "sys"}: the transfer only (connection set-up
included; interpreter start-up and imports excluded); CPU in seconds, "sys" the kernel's part of "cpu".
FILE_LIST holds one path per line, relative to REMOTE_DIR: the whole set, or the subset a slow contender
runs on (the benchmark writes it); the directory contenders (the fork's get_directory) list the tree
themselves, as a user would.
The connection is AIRFLOW_CONN_SFTP_BENCH.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Callable

CONN_ID = "sftp_bench"


def _pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    with open(args.list) as f:
        rels = [line.strip() for line in f if line.strip()]
    pairs = [(f"{args.src}/{rel}", os.path.join(args.dest, rel)) for rel in rels]
    for folder in {os.path.dirname(local) for _, local in pairs}:
        os.makedirs(folder, exist_ok=True)
    return pairs


def base_sync(args: argparse.Namespace) -> int:
    """SFTPHook (paramiko): one connection, one file after the other."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    pairs = _pairs(args)
    hook = SFTPHook(ssh_conn_id=CONN_ID)
    with hook.get_managed_conn():
        for remote, local in pairs:
            hook.retrieve_file(remote, local)
    return len(pairs)


def base_sync_reconnect(args: argparse.Namespace) -> int:
    """SFTPHook (paramiko) per file, outside get_managed_conn: each file opens and closes its own SSH
    connection, as per-file code and one task instance per file (mapped SFTPOperator) do."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    pairs = _pairs(args)
    for remote, local in pairs:
        SFTPHook(ssh_conn_id=CONN_ID).retrieve_file(remote, local)
    return len(pairs)


def base_pool(args: argparse.Namespace) -> int:
    """SFTPHookAsync + SFTPClientPool: one task per file, each leasing a client for sftp.get()."""
    from airflow.providers.sftp.pools.sftp import SFTPClientPool

    pairs = _pairs(args)

    async def main() -> None:
        pool = SFTPClientPool(CONN_ID, pool_size=args.pool_size)

        async def one(remote: str, local: str) -> None:
            async with pool.get_sftp_client() as sftp:
                await sftp.get(remote, local)

        await asyncio.gather(*(one(remote, local) for remote, local in pairs))
        await pool.close()

    asyncio.run(main())
    return len(pairs)


def fork_pool(args: argparse.Namespace) -> int:
    """The fork's bulk transfer: get_directory lists the tree, then pipelines the downloads."""
    from airflow.providers.sftp.pools import transfer
    from airflow.providers.sftp.pools.sftp import SFTPClientPool

    async def main() -> int:
        pool = SFTPClientPool(CONN_ID, pool_size=args.pool_size)
        result = await transfer.get_directory(pool, args.src, args.dest)
        await pool.close()
        return len(result.files)

    return asyncio.run(main())


def fork_files(args: argparse.Namespace) -> int:
    """The fork's bulk transfer given the explicit file list (sizes unknown: one fstat per file)."""
    from airflow.providers.sftp.pools import transfer
    from airflow.providers.sftp.pools.sftp import SFTPClientPool

    pairs = _pairs(args)

    async def main() -> int:
        pool = SFTPClientPool(CONN_ID, pool_size=args.pool_size)
        result = await transfer.get_files(pool, pairs)
        await pool.close()
        return len(result.files)

    return asyncio.run(main())


def user_code(args: argparse.Namespace) -> int:
    """Existing user code: upstream's documented pool usage, ``async with pool.get_sftp_client()`` and
    ``sftp.get()`` per file, `--in-flight` files at once (a semaphore). The same code runs on upstream and on
    the fork; nothing in it uses the fork's bulk API."""
    from airflow.providers.sftp.pools.sftp import SFTPClientPool

    pairs = _pairs(args)

    async def main() -> None:
        pool = SFTPClientPool(CONN_ID, pool_size=args.pool_size)
        in_flight = asyncio.Semaphore(args.in_flight)

        async def one(remote: str, local: str) -> None:
            async with in_flight, pool.get_sftp_client() as sftp:
                await sftp.get(remote, local)

        await asyncio.gather(*(one(remote, local) for remote, local in pairs))
        await pool.close()

    asyncio.run(main())
    return len(pairs)


def fork_put(args: argparse.Namespace) -> int:
    """The fork's bulk upload: put_directory walks the local tree, creates the remote directories, then
    pipelines the uploads (written under a temporary name, renamed into place)."""
    from airflow.providers.sftp.pools import transfer
    from airflow.providers.sftp.pools.sftp import SFTPClientPool

    async def main() -> int:
        pool = SFTPClientPool(CONN_ID, pool_size=args.pool_size)
        result = await transfer.put_directory(pool, args.src, args.dest)
        await pool.close()
        return len(result.files)

    return asyncio.run(main())


def fork_bulk_operator_put(args: argparse.Namespace) -> int:
    """SFTPBulkOperator(operation="put") of the local tree, its aexecute() awaited as a task would."""
    from airflow.providers.sftp.operators.sftp import SFTPBulkOperator

    op = SFTPBulkOperator(
        task_id="bulk_put",
        ssh_conn_id=CONN_ID,
        local_path=args.src,
        remote_path=args.dest,
        operation="put",
        pool_size=args.pool_size,
    )

    async def main() -> int:
        summary = await op.aexecute({})
        return int(summary["files"])

    return asyncio.run(main())


CONTENDERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "user-code": user_code,
    "fork-put": fork_put,
    "fork-bulk-op-put": fork_bulk_operator_put,
    "base-sync": base_sync,
    "base-sync-reconnect": base_sync_reconnect,
    "base-pool": base_pool,
    "fork-pool": fork_pool,
    "fork-files": fork_files,
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("name", choices=sorted(CONTENDERS))
    p.add_argument("--src", required=True)
    p.add_argument("--dest", required=True)
    p.add_argument("--list", required=True)
    p.add_argument("--pool-size", type=int, default=None)
    p.add_argument("--in-flight", type=int, default=64, help="user-code: files at once")
    p.add_argument("--uvloop", action="store_true", help="run the event loop on uvloop")
    p.add_argument(
        "--asyncssh-sftp-level",
        help="level of the asyncssh.sftp logger, as [logging] namespace_levels sets it in a task",
    )
    p.add_argument("--profile", help="write a cProfile of the transfer to this file")
    args = p.parse_args()
    os.makedirs(args.dest, exist_ok=True)
    # Tasks log at INFO into a file: the same here, so logging costs what it costs in a task.
    logging.basicConfig(level="INFO", filename=args.dest + ".log", force=True)
    modules = ["airflow.providers.sftp.hooks.sftp", "airflow.providers.sftp.pools.sftp"]
    if args.name.startswith("fork"):
        modules.append("airflow.providers.sftp.pools.transfer")
    if args.name == "fork-bulk-op-put":
        modules.append("airflow.providers.sftp.operators.sftp")
    for module in modules:  # imports are not what is measured
        importlib.import_module(module)
    if args.asyncssh_sftp_level:
        logging.getLogger("asyncssh.sftp").setLevel(args.asyncssh_sftp_level)
    if args.uvloop:
        import uvloop

        uvloop.install()
    profiler = cProfile.Profile() if args.profile else None
    t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    if profiler is not None:
        profiler.enable()
    files = CONTENDERS[args.name](args)
    if profiler is not None:
        profiler.disable()
    seconds, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    system = r1.ru_stime - r0.ru_stime
    cpu = r1.ru_utime - r0.ru_utime + system
    if profiler is not None:
        profiler.dump_stats(args.profile)
    print(
        json.dumps({"name": args.name, "files": files, "seconds": seconds, "cpu": cpu, "sys": system}),
        flush=True,
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
