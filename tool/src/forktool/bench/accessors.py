"""Benchmark: awaitable XCom and Variable reads from one async task, fork and unpatched base side by side.

Each environment gets its own embedded Airflow (``AirflowStack``: SQLite, api-server on 127.0.0.1,
LocalExecutor), and runs bench/dags/accessor_reads.py once per workload and concurrency: one task
instance awaiting ``n`` reads through the real supervisor and execution API. The base has no
``Variable.aget``; its Variable row uses the nearest awaitable read it has, the execution API secrets
backend's ``aget_variable`` (one round trip per read; the fork's ``Variable.aget`` also masks the value).

On loopback the api-server's CPU bounds the rate. ``api_latency_ms`` puts a ``LatencyProxy`` between each
supervisor and its execution API, as a remote API server would be, which shows what serving the reads of
a task in parallel (the fork's ``[workers] supervisor_request_threads``) buys over serving them in turn.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

from forktool.bench.side_by_side import stacks_side_by_side
from forktool.errors import ForkError
from forktool.interpreters import Interpreter
from forktool.progress import say
from forktool.series.pins import Pins
from forktool.stack.airflow_stack import AirflowStack
from forktool.stack.latency_proxy import LatencyProxy
from forktool.workspace import Workspace

DAG_ID = "accessor_reads"
BENCH_VAR = "bench_accessors_var"
KINDS = ("xcom", "variable")
CONCURRENCY = (1, 64)


def _cell(
    stack: AirflowStack, result_file: Path, kind: str, n: int, concurrency: int, api_url: str | None = None
) -> dict[str, object]:
    """One run of the benchmark DAG; {"elapsed", "ok", "how"}, or {"error": why} when it failed or hung."""
    result_file.unlink(missing_ok=True)
    env = {"FORK_BENCH_RESULT": str(result_file)}
    if api_url:
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = api_url
    try:
        run = stack.run_dag(
            DAG_ID,
            conf={"kind": kind, "n": n, "concurrency": concurrency},
            env=env,
            timeout=900,  # beyond the reading task's execution_timeout: a hang shows as a failed task first
        )
    except subprocess.TimeoutExpired:
        return {"error": "hung"}
    if run.tis.get("reads") != "success" or not result_file.exists():
        return {"error": f"task {run.tis.get('reads')}"}
    result: dict[str, object] = json.loads(result_file.read_text())
    return result


def _show(result: dict[str, object], n: int) -> str:
    if "error" in result:
        return str(result["error"])
    elapsed = float(str(result["elapsed"]))
    return f"{n / elapsed:,.0f}/s" + ("" if result["ok"] else " (WRONG VALUES)")


def accessors(
    ws: Workspace,
    pins: Pins,
    label: str,
    n: int,
    api_latency_ms: float = 0,
    interpreter: Interpreter | None = None,
) -> int:
    """Reads per second of n awaited XCom and Variable reads from one task, at concurrency 1 and 64."""
    if n < 1:
        raise ForkError(f"n must be positive, got {n}")
    if api_latency_ms < 0:
        raise ForkError(f"--api-latency-ms must not be negative, got {api_latency_ms}")
    with contextlib.ExitStack() as cleanup:
        stacks = cleanup.enter_context(stacks_side_by_side(ws, pins, label, interpreter))
        api_urls: dict[str, str | None] = {name: None for name in stacks}
        if api_latency_ms:
            for name, stack in stacks.items():
                proxy = cleanup.enter_context(LatencyProxy(stack.port, api_latency_ms / 1000))
                api_urls[name] = f"http://127.0.0.1:{proxy.port}/execution/"
        rates: dict[str, dict[tuple[str, int], str]] = {name: {} for name in stacks}
        hows: dict[str, set[str]] = {name: set() for name in stacks}
        for name, stack in stacks.items():
            added = stack.airflow("variables", "set", BENCH_VAR, "v")
            if added.returncode != 0:
                raise ForkError(f"could not set {BENCH_VAR} on {name}", added.stderr[-2000:])
            # One short run warms caches; not counted.
            warm = _cell(stack, stack.home / "result.json", "xcom", min(n, 100), 1)
            if "error" in warm:
                raise ForkError(f"benchmark DAG failed on {name}: {warm['error']}", f"see {stack.home}")
        for kind in KINDS:
            for concurrency in CONCURRENCY:
                for name, stack in stacks.items():
                    result = _cell(stack, stack.home / "result.json", kind, n, concurrency, api_urls[name])
                    shown = rates[name][(kind, concurrency)] = _show(result, n)
                    if "how" in result:
                        hows[name].add(f"{kind}: {result['how']}")
                    say(f"{name}: {kind} x{n} at concurrency {concurrency}: {shown}")
    latency = f", +{api_latency_ms:g} ms on each request to the execution API" if api_latency_ms else ""
    print(f"\nAwaited reads per second, {n:,} reads from one async task through the real supervisor{latency}")
    columns = [(kind, c) for kind in KINDS for c in CONCURRENCY]
    heads = [f"{kind} c={c}" for kind, c in columns]
    print(f"{'':20} " + " ".join(f"{h:>16}" for h in heads))
    for name, by_cell in rates.items():
        print(f"{name:20} " + " ".join(f"{by_cell[col]:>16}" for col in columns))
    for name, how in hows.items():
        print(f"  {name}: " + ", ".join(sorted(how)))
    return 0
