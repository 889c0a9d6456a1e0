"""Benchmark: no-op items through ``.iterate()`` vs ``.expand()`` vs a hand-written ``asyncio.gather`` task.

One embedded Airflow of the fork (``AirflowStack``: SQLite, api-server on 127.0.0.1, LocalExecutor, the
real supervisor) runs bench/dags/iterate_overhead.py: per item count, one DAG run per variant, each an
``items`` task pushing ``list(range(n))`` followed by the measured task(s). Measured per variant: the
measured task's wall time (task instance start to end; for ``.expand()`` the first mapped instance's
start to the last one's end, and the sum of their durations), the DAG run's wall time, the per-item
overhead (task wall / n), and the peak RSS of the task process, read inside it by an
``on_success_callback`` (for ``.expand()``: the largest over its task instances).

On the same stack it then measures ``.iterate()``'s checkpoints (task-sdk ``iterate_checkpoint``): the
checkpoint writes and deletes per 1,000 items of the workload the checkpoint faults were reported with
(2,000 items of 80-180 ms, concurrency 16), and the resume of the largest item count: a first try that
fails on its last item, then a retry that reads the others back ("Resuming" in its log: items, chunks,
seconds). The counts come from the task log: writes from the "Task progress summary" event, deletes
from "Deleted iterate checkpoints".
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forktool.airflow_stack import AirflowStack
from forktool.env import ensure_env, env_vars
from forktool.errors import ForkError
from forktool.interpreters import Interpreter
from forktool.pins import Pins
from forktool.progress import say
from forktool.workspace import Workspace

DEFAULT_ITEMS = (1000, 100_000)
DEFAULT_CONCURRENCY = 16
#: Most mapped task instances ``.expand()`` runs by default. Through the LocalExecutor each is a scheduled
#: task process: on a 2-core machine 0.35-0.65 s per item (1,000 took 6-11 minutes), so by default it
#: runs over the first 250 items; its per-item overhead stands for the larger counts.
DEFAULT_EXPAND_MAX = 250
#: Upstream's ``[core] max_map_length`` default: more mapped instances need it raised.
MAX_MAP_LENGTH = 1024
#: (label, DAG id) in the order of the table.
VARIANTS = (
    ("iterate async", "iterate_overhead_async"),
    ("asyncio.gather", "iterate_overhead_gather"),
    ("iterate threads", "iterate_overhead_threads"),
    ("ThreadPoolExecutor.map", "iterate_overhead_threadpool"),
    ("expand", "iterate_overhead_expand"),
)
#: The hand-written baseline each variant's ratios are taken against (async items: a semaphore and
#: asyncio.gather; threaded items: ThreadPoolExecutor.map with as many threads).
BASELINES = {
    "iterate async": "asyncio.gather",
    "iterate threads": "ThreadPoolExecutor.map",
    "expand": "asyncio.gather",
}
MEASURED_TASK = "noop"
#: The workload of the checkpoint faults reported in issue 11: 80-180 ms items, concurrency 16.
CHECKPOINT_ITEMS = 2000


@dataclass
class CheckpointRow:
    workload: str
    items: int
    writes: int | None = None
    deletes: int | None = None
    resumed: int | None = None
    chunks: int | None = None
    resume_s: float | None = None
    note: str = ""

    def per_1000(self, count: int | None) -> float | None:
        return count * 1000 / self.items if count is not None and self.items else None


@dataclass
class Row:
    variant: str
    items: int  # the item count of the comparison
    ran: int = 0  # items actually run (.expand() may run fewer; see DEFAULT_EXPAND_MAX)
    dagrun_s: float | None = None  # dag.test of the whole run, from parsing to the last task's end
    task_s: float | None = None  # measured task's wall time: instance start to end (expand: span)
    ti_sum_s: float | None = None  # sum of the measured task instances' durations
    instances: int = 0
    rss_kb: int | None = None  # peak RSS of the task process (expand: largest instance)
    note: str = ""  # why there is no measurement, or what is partial about it

    @property
    def per_item_us(self) -> float | None:
        return self.task_s / self.ran * 1e6 if self.task_s is not None and self.ran else None


def _parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _span(stack: AirflowStack, dag_id: str, run_id: str) -> float | None:
    """First start to last end of the measured task's instances, from the metadata database."""
    out = stack.airflow("tasks", "states-for-dag-run", dag_id, run_id, "-o", "json")
    if out.returncode != 0 or "[" not in out.stdout:
        raise ForkError(f"could not read the task instances of {dag_id}", out.stderr[-2000:])
    starts, ends = [], []
    for ti in json.loads(out.stdout[out.stdout.index("[") :]):
        start, end = _parse_time(ti.get("start_date")), _parse_time(ti.get("end_date"))
        if ti.get("task_id") == MEASURED_TASK and start and end:
            starts.append(start)
            ends.append(end)
    return (max(ends) - min(starts)).total_seconds() if starts else None


def _measure(stack: AirflowStack, result_file: Path, variant: str, items: int, ran: int) -> Row:
    """One DAG run of `variant` over `ran` items, reported as a row of the `items` comparison."""
    dag_id = dict(VARIANTS)[variant]
    row = Row(variant, items, ran)
    result_file.unlink(missing_ok=True)
    timeout = 600 + ran * (3.0 if variant == "expand" else 0.01)
    try:
        run = stack.run_dag(
            dag_id, conf={"n": ran}, env={"FORK_BENCH_RESULT": str(result_file)}, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        row.note = f"did not finish in {timeout:.0f} s"
        return row
    if run.state != "success":
        failed = sorted(f"{k} {v}" for k, v in run.tis.items() if v != "success")
        row.note = (
            f"run {run.state}: {len(failed)} task instances not successful ({', '.join(failed[:3])} ...)"
        )
        return row
    measured = {k: v for k, v in run.durations.items() if k.split("[")[0] == MEASURED_TASK}
    row.dagrun_s = run.seconds
    row.instances = len(measured)
    row.ti_sum_s = sum(float(d or 0.0) for d in measured.values())
    row.task_s = _span(stack, dag_id, run.run_id) if row.instances > 1 else row.ti_sum_s
    lines = result_file.read_text().splitlines() if result_file.exists() else []
    rss = [int(r["maxrss_kb"]) for r in map(json.loads, lines) if r["dag_id"] == dag_id]
    row.rss_kb = max(rss) if rss else None
    if len(rss) != row.instances:
        row.note = f"peak RSS from {len(rss)} of {row.instances} task processes"
    if ran < items:
        row.note = f"run over the first {ran:,} of {items:,} items (--expand-max); per item as measured"
    return row


def _expand_not_run(items: int, sample: Row | None) -> Row:
    why = f"not run: one task process per item; [core] max_map_length is {MAX_MAP_LENGTH:,} by default"
    if sample is not None and sample.per_item_us is not None:
        hours = sample.per_item_us * items / 1e6 / 3600
        why += f"; at the {sample.per_item_us / 1e6:.2f} s/item measured over {sample.ran:,}: ~{hours:.1f} h"
    return Row("expand", items, note=why)


def measure(
    python: Path,
    dags: Path,
    state: Path,
    items: list[int],
    concurrency: int,
    expand_max: int,
    checkpoints: bool = True,
) -> tuple[list[Row], list[CheckpointRow]]:
    """Run every variant at every item count on one started stack; the rows in table order, then the
    checkpoint rows (:func:`measure_checkpoints`).

    ``.expand()`` runs over at most `expand_max` items, once: a larger count is shown as not run, with the
    time it would take at the measured per-item rate.
    """
    rows: list[Row] = []
    env = {"FORK_BENCH_CONCURRENCY": str(concurrency)}
    if expand_max > MAX_MAP_LENGTH:
        env["AIRFLOW__CORE__MAX_MAP_LENGTH"] = str(expand_max)
    with tempfile.TemporaryDirectory(prefix="bench-iterate-", dir=state) as tmp:
        stack = AirflowStack(home=Path(tmp) / "home", dags_folder=dags, python=python, extra_env=env)
        say("starting Airflow (fork)")
        stack.start()
        try:
            result_file = Path(tmp) / "rss.jsonl"
            # One short run per variant compiles bytecode, stores the DAG and warms caches; not counted.
            for variant, _ in VARIANTS:
                warm = _measure(stack, result_file, variant, 10, 10)
                if warm.task_s is None:
                    raise ForkError(f"benchmark DAG failed ({variant}): {warm.note}", f"see {stack.home}")
            sample: Row | None = None
            for n in items:
                for variant, _ in VARIANTS:
                    if variant == "expand" and n > expand_max and sample is not None:
                        rows.append(_expand_not_run(n, sample))
                        continue
                    ran = min(n, expand_max) if variant == "expand" else n
                    started = time.monotonic()
                    row = _measure(stack, result_file, variant, n, ran)
                    rows.append(row)
                    if variant == "expand" and ran == expand_max:
                        sample = row
                    took = time.monotonic() - started
                    say(
                        f"{variant} x{ran:,}: {took:.1f} s" + (f" ({row.note})" if row.task_s is None else "")
                    )
            checkpoint_rows = measure_checkpoints(stack, max(items)) if checkpoints else []
        finally:
            stack.stop()
    return rows, checkpoint_rows


def _log_event(
    stack: AirflowStack, dag_id: str, run_id: str, attempt: int, event: str
) -> dict[str, Any] | None:
    try:
        records = stack.task_log_records(dag_id, run_id, MEASURED_TASK, attempt)
    except OSError:
        return None
    return next((r for r in records if str(r.get("event", "")).startswith(event)), None)


def measure_checkpoints(stack: AirflowStack, resume_items: int) -> list[CheckpointRow]:
    """Checkpoint requests of the issue's workload, and the resume of `resume_items` no-op items."""
    rows = []
    slow = CheckpointRow("80-180 ms items, success", CHECKPOINT_ITEMS)
    run = stack.run_dag("iterate_checkpoint_slow", conf={"n": CHECKPOINT_ITEMS}, timeout=900)
    summary = _log_event(stack, "iterate_checkpoint_slow", run.run_id, 1, "Task progress summary")
    deleted = _log_event(stack, "iterate_checkpoint_slow", run.run_id, 1, "Deleted iterate checkpoints")
    if run.state != "success" or summary is None:
        slow.note = f"run {run.state}"
    else:
        slow.writes = int(summary.get("checkpoint_writes") or 0)
        slow.deletes = int(deleted["deletes"]) if deleted else 0
    rows.append(slow)
    say(f"checkpoints x{CHECKPOINT_ITEMS:,}: {slow.writes} writes, {slow.deletes} deletes")

    resume = CheckpointRow("no-op items, retried", resume_items)
    dag_id = "iterate_checkpoint_resume"
    run = stack.run_dag(dag_id, conf={"n": resume_items}, timeout=600 + resume_items * 0.01)
    failed = _log_event(stack, dag_id, run.run_id, 1, "Task progress summary")
    resumed = _log_event(stack, dag_id, run.run_id, 2, "Resuming")
    summary = _log_event(stack, dag_id, run.run_id, 2, "Task progress summary")
    deleted = _log_event(stack, dag_id, run.run_id, 2, "Deleted iterate checkpoints")
    if run.state != "success" or resumed is None or failed is None or summary is None:
        resume.note = f"run {run.state}; no resume measured"
    else:
        resume.writes = int(failed.get("checkpoint_writes") or 0) + int(summary.get("checkpoint_writes") or 0)
        resume.deletes = int(deleted["deletes"]) if deleted else 0
        resume.resumed = int(resumed["completed"])
        resume.chunks = int(resumed["chunks"])
        resume.resume_s = float(resumed["load_s"])
    rows.append(resume)
    say(
        f"resume x{resume_items:,}: {resume.resumed} items from {resume.chunks} chunks in {resume.resume_s} s"
    )
    return rows


def print_checkpoints(rows: list[CheckpointRow]) -> None:
    print(
        "\n.iterate() checkpoints (iterate_checkpoint_interval 2 s, chunks of up to 1,000 items), same stack"
    )
    head = (
        f"{'workload':28} {'items':>8} {'writes':>7} {'deletes':>8} {'writes/1k':>10} {'deletes/1k':>11} "
        f"{'resumed':>8} {'chunks':>7} {'resume':>8}"
    )
    print(f"{head}\n{'-' * len(head)}")
    for r in rows:
        print(
            f"{r.workload:28} {r.items:>8,} {_fmt(r.writes, 'd'):>7} {_fmt(r.deletes, 'd'):>8} "
            f"{_fmt(r.per_1000(r.writes), '.1f'):>10} {_fmt(r.per_1000(r.deletes), '.1f'):>11} "
            f"{_fmt(r.resumed, ','):>8} {_fmt(r.chunks, 'd'):>7} {_fmt(r.resume_s, '.2f', ' s'):>8}"
            + (f"  ({r.note})" if r.note else "")
        )
    print(
        "writes: chunk and manifest writes of all tries (Task progress summary); deletes: after the "
        "success was recorded\n(Deleted iterate checkpoints); resume: reading the checkpoints back at the "
        "start of the retry (Resuming, load_s)"
    )


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else format(value, spec) + unit


def _ratio(value: float | None, ref: float | None) -> str:
    return f"{value / ref:.2f}x" if value is not None and ref else "n/a"


def rss_growth_mb(rows: list[Row], row: Row) -> float | None:
    """Peak RSS of `row` minus that of the same variant at the smallest item count measured (MB)."""
    same = [r for r in rows if r.variant == row.variant and r.rss_kb is not None and r.ran]
    if row.rss_kb is None or not same:
        return None
    smallest = min(same, key=lambda r: r.ran)
    return None if smallest is row else (row.rss_kb - (smallest.rss_kb or 0)) / 1024


def print_table(rows: list[Row], concurrency: int) -> None:
    print(
        "\nNo-op items through the real supervisor (AirflowStack: LocalExecutor, parallelism 4); "
        f"item concurrency {concurrency} for .iterate() and the hand-written tasks; load average "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    smallest = min(r.items for r in rows)
    head = (
        f"{'variant':22} {'items':>9} {'TIs':>5} {'task wall':>10} {'sum of TIs':>11} {'DAG run':>9} "
        f"{'us/item':>9} {'peak RSS':>9} {'vs ' + format(smallest, ','):>10} {'baseline':>22} "
        f"{'us/item vs base':>15} {'RSS vs base':>11}"
    )
    notes: list[str] = []
    for n in dict.fromkeys(r.items for r in rows):
        group = [r for r in rows if r.items == n]
        print(f"\n{n:,} items\n{head}\n{'-' * len(head)}")
        for r in group:
            base_name = BASELINES.get(r.variant, "")
            ref = next((b for b in group if b.variant == base_name), None)
            ref_rss = float(ref.rss_kb) if ref and ref.rss_kb else None
            rss_mb = r.rss_kb / 1024 if r.rss_kb is not None else None
            growth = rss_growth_mb(rows, r)
            print(
                f"{r.variant:22} {r.ran or n:>9,} {r.instances or '':>5} {_fmt(r.task_s, '.2f', 's'):>10} "
                f"{_fmt(r.ti_sum_s, '.2f', 's'):>11} {_fmt(r.dagrun_s, '.1f', 's'):>9} "
                f"{_fmt(r.per_item_us, ',.1f'):>9} {_fmt(rss_mb, '.0f', ' MB'):>9} "
                f"{_fmt(growth, '+.0f', ' MB') if growth is not None else '':>10} {base_name:>22} "
                f"{_ratio(r.per_item_us, ref.per_item_us if ref else None) if ref else '':>15} "
                f"{_ratio(r.rss_kb, ref_rss) if ref else '':>11}"
            )
            if r.note:
                notes.append(f"  {r.variant}, {n:,} items: {r.note}")
    print(
        "\ntask wall: the measured task instance's start to end (expand: first mapped instance's start "
        "to the last one's end);\nus/item: task wall / items run; DAG run: dag.test() including the items "
        "task;\npeak RSS: getrusage(RUSAGE_SELF).ru_maxrss in the task process after the task (expand: "
        f"largest instance);\nvs {smallest:,}: peak RSS growth over the same variant with {smallest:,} "
        "items; baseline: the hand-written task the ratios are taken against"
    )
    if notes:
        print("\n".join(["notes:", *notes]))


def write_results(
    ws: Workspace,
    python: Path,
    rows: list[Row],
    checkpoint_rows: list[CheckpointRow],
    concurrency: int,
    load: dict[str, list[float]],
    output: Path | None,
) -> tuple[Path, Path]:
    """Write the run's JSON (rows, checkpoints, machine load) and draw its PNG beside it."""
    chart = output or ws.state / "bench" / "iterate.png"
    chart.parent.mkdir(parents=True, exist_ok=True)
    results = chart.with_suffix(".json")
    data = {
        "benchmark": "iterate",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average": load,
        "concurrency": concurrency,
        "baselines": BASELINES,
        "rows": [
            {**asdict(r), "per_item_us": r.per_item_us, "rss_growth_mb": rss_growth_mb(rows, r)} for r in rows
        ],
        "checkpoints": [asdict(r) for r in checkpoint_rows],
    }
    results.write_text(json.dumps(data, indent=1) + "\n")
    drawn = subprocess.run(
        [str(python), str(ws.root / "bench" / "iterate" / "chart.py"), str(results), str(chart)],
        env=env_vars(python),
    )
    if drawn.returncode:
        raise ForkError(
            "drawing the chart failed", "see the output above (matplotlib: requirements/test.txt)"
        )
    return results, chart


def run(
    ws: Workspace,
    pins: Pins,
    label: str,
    items: list[int],
    concurrency: int,
    expand_max: int,
    interpreter: Interpreter | None = None,
    *,
    checkpoints: bool = True,
    output: Path | None = None,
) -> int:
    """``./fork bench iterate``: build (if needed) the fork's environment, measure, print the table, write
    the JSON and the PNG (`output`, default .fork/bench/iterate.png; the JSON beside it)."""
    if not items or min(items) < 1:
        raise ForkError(f"--items must be positive counts, got {items}")
    if concurrency < 1 or expand_max < 1:
        raise ForkError("--concurrency and --expand-max must be at least 1")
    python = ensure_env(ws, pins, label, interpreter=interpreter)
    load = {"before": list(os.getloadavg())}
    rows, checkpoint_rows = measure(
        python, ws.root / "bench" / "dags", ws.state, items, concurrency, expand_max, checkpoints
    )
    load["after"] = list(os.getloadavg())
    print_table(rows, concurrency)
    if checkpoint_rows:
        print_checkpoints(checkpoint_rows)
    results, chart = write_results(ws, python, rows, checkpoint_rows, concurrency, load, output)
    print(f"\nresults: {results}\nchart:   {chart}")
    failed = any(r.task_s is None and not r.note.startswith("not run") for r in rows)
    return 1 if failed or any(r.note for r in checkpoint_rows) else 0
