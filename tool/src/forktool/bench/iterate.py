"""Benchmark: no-op items through ``.iterate()`` vs ``.expand()`` vs hand-written ``asyncio.gather`` and
``ThreadPoolExecutor.map`` tasks.

One embedded Airflow of the fork (``AirflowStack``: SQLite, api-server on 127.0.0.1, LocalExecutor, the
real supervisor) runs bench/dags/iterate_overhead.py: per item count, one DAG run per variant, each an
``items`` task pushing ``list(range(n))`` followed by the measured task(s). Measured per variant: the
measured task's wall time (task instance start to end; for ``.expand()`` the first mapped instance's
start to the last one's end, and the sum of their durations), the DAG run's wall time, the per-item
overhead (task wall / n), and the peak RSS of the task process, read inside it by an
``on_success_callback`` (for ``.expand()``: the largest over its task instances). Each variant's ratios
are taken against the hand-written task of its kind (:data:`BASELINES`), and its peak RSS growth against
the same variant at the smallest item count.

On the same stack it then measures ``.iterate()``'s checkpoints (task-sdk ``iterate_checkpoint``): the
checkpoint writes and deletes per 1,000 items of the workload the checkpoint faults were reported with
(2,000 items of 80-180 ms, concurrency 16), and the resume of the largest item count: a first try that
fails on its last item, then a retry that reads the others back ("Resuming" in its log: items, chunks,
seconds). The counts come from the task log: writes from the "Task progress summary" event, deletes
from "Deleted iterate checkpoints".

The cost of publishing progress (the task's ``task-progress-publisher`` thread writing snapshots to its task
state store, see ``airflow.sdk.execution_time.progress_publisher``) is measured at the largest item count:
the async ``.iterate()`` DAG with ``[task_progress] publish`` on and off, alternating, ``--progress-runs``
runs each; the medians side by side, and the API writes of the runs with publishing on (the ``published``
count of the final snapshot, read back through the public task state store API).

Every run writes its results as JSON (:func:`results_data`: the rows, the checkpoint rows, the progress
publishing runs, the load average before and after, the CPUs) and draws a PNG from it with
bench/iterate/chart.py in the fork's environment: .fork/bench/iterate.png and .fork/bench/iterate.json by
default.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forktool.bench.chart import draw_chart
from forktool.errors import ForkError
from forktool.interpreters import Interpreter
from forktool.progress import say
from forktool.series.env import ensure_env
from forktool.series.pins import Pins
from forktool.stack.airflow_stack import AirflowStack
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
#: asyncio.gather; threaded items: ThreadPoolExecutor.map with as many threads). The baselines have none.
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


#: Task state store key of the published progress snapshot (airflow.sdk.execution_time.progress_publisher).
PROGRESS_KEY = "airflow.progress"


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


@dataclass
class ProgressCost:
    """Publishing on vs off: per run, the task wall and the items' wall (``elapsed_s`` of the summary)."""

    items: int
    on_task_s: list[float] = field(default_factory=list)
    off_task_s: list[float] = field(default_factory=list)
    on_items_s: list[float] = field(default_factory=list)
    off_items_s: list[float] = field(default_factory=list)
    writes: list[int] = field(default_factory=list)


def _items_wall(stack: AirflowStack, dag_id: str, run_id: str) -> float:
    """Wall time of the items alone: ``elapsed_s`` of the task's ``iterate_summary`` XCom."""
    quote = urllib.parse.quote
    entry = stack.api_get(
        f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{MEASURED_TASK}"
        "/xcomEntries/iterate_summary",
        deserialize=True,
    )
    value = entry["value"]
    return float((json.loads(value) if isinstance(value, str) else value)["elapsed_s"])


def _published_writes(stack: AirflowStack, dag_id: str, run_id: str) -> int:
    """Snapshots the measured task wrote (the final one counts itself); 0 if it published none."""
    quote = urllib.parse.quote
    path = (
        f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{MEASURED_TASK}"
        f"/state-store/{PROGRESS_KEY}"
    )
    try:
        value = stack.api_get(path)["value"]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return 0
        raise
    return int(value["published"]) if isinstance(value, dict) else 0


def measure_progress(stack: AirflowStack, n: int, runs: int) -> ProgressCost:
    """Async ``.iterate()`` over `n` items with progress publishing on and off, alternating, `runs` each."""
    dag_id = dict(VARIANTS)["iterate async"]
    cost = ProgressCost(n)
    for _ in range(runs):
        for publish in (True, False):
            env = {"AIRFLOW__TASK_PROGRESS__PUBLISH": str(publish)}
            run = stack.run_dag(dag_id, conf={"n": n}, env=env, timeout=600 + n * 0.01)
            if run.state != "success":
                state = "on" if publish else "off"
                raise ForkError(f"{dag_id} failed with publishing {state}", run.output[-2000:])
            task_s = float(run.durations.get(MEASURED_TASK) or 0.0)
            items_s = _items_wall(stack, dag_id, run.run_id)
            if publish:
                cost.on_task_s.append(task_s)
                cost.on_items_s.append(items_s)
                cost.writes.append(_published_writes(stack, dag_id, run.run_id))
            else:
                cost.off_task_s.append(task_s)
                cost.off_items_s.append(items_s)
            say(
                f"iterate async x{n:,}, progress publishing {'on' if publish else 'off'}: "
                f"items {items_s:.2f} s, task {task_s:.2f} s"
            )
    return cost


def print_progress_cost(cost: ProgressCost) -> None:
    runs = len(cost.on_task_s)
    print(
        f"\nProgress publishing: async .iterate() over {cost.items:,} no-op items, publishing on vs off, "
        f"alternating, {runs} run(s) each"
    )
    print(
        f"{'publish':8} {'items wall (median)':>20} {'(min)':>8} {'task wall (median)':>19} {'(min)':>8} "
        f"{'us/item':>8} {'API writes':>11}"
    )
    rows = (
        ("on", cost.on_items_s, cost.on_task_s, max(cost.writes, default=0)),
        ("off", cost.off_items_s, cost.off_task_s, 0),
    )
    for label, items_s, task_s, writes in rows:
        med = statistics.median(items_s) if items_s else None
        per_item = med / cost.items * 1e6 if med is not None else None
        print(
            f"{label:8} {_fmt(med, '.3f', 's'):>20} {_fmt(min(items_s, default=None), '.3f', 's'):>8} "
            f"{_fmt(statistics.median(task_s) if task_s else None, '.3f', 's'):>19} "
            f"{_fmt(min(task_s, default=None), '.3f', 's'):>8} {_fmt(per_item, ',.1f'):>8} {writes:>11}"
        )
    on = statistics.median(cost.on_items_s) if cost.on_items_s else None
    off = statistics.median(cost.off_items_s) if cost.off_items_s else None
    on_min, off_min = min(cost.on_items_s, default=None), min(cost.off_items_s, default=None)
    print(
        f"on vs off, items wall: {_ratio(on, off)} median, {_ratio(on_min, off_min)} best (target at most "
        f"1.02x); API writes per run: {', '.join(str(w) for w in cost.writes)} (target at most 200); the "
        "publisher also reads the dump request key once per tick (about one read a second).\n"
        "items wall: elapsed_s of the iterate_summary (the items alone); task wall: the task instance's "
        "duration (process start-up included)"
    )


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
    progress_runs: int = 0,
    checkpoints: bool = True,
) -> tuple[list[Row], list[CheckpointRow], ProgressCost | None]:
    """Run every variant at every item count on one started stack; the rows in table order, then the
    checkpoint rows (:func:`measure_checkpoints`; none without `checkpoints`) and the cost of progress
    publishing (None when `progress_runs` is 0).

    ``.expand()`` runs over at most `expand_max` items, once: a larger count is shown as not run, with the
    time it would take at the measured per-item rate.
    """
    rows: list[Row] = []
    cost: ProgressCost | None = None
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
            if progress_runs > 0:
                cost = measure_progress(stack, max(items), progress_runs)
        finally:
            stack.stop()
    return rows, checkpoint_rows, cost


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


def baseline_of(row: Row, rows: list[Row]) -> Row | None:
    """The row of `row`'s baseline (:data:`BASELINES`) at the same item count; None for a baseline itself
    or when its row is missing."""
    name = BASELINES.get(row.variant)
    return next((r for r in rows if r.variant == name and r.items == row.items), None)


def baseline_ratios(row: Row, rows: list[Row]) -> tuple[float | None, float | None]:
    """(us per item, peak RSS) of `row` divided by those of its baseline (:func:`baseline_of`) in `rows`;
    None where either side has no measurement."""
    base = baseline_of(row, rows)
    if base is None:
        return None, None
    us = row.per_item_us / base.per_item_us if row.per_item_us is not None and base.per_item_us else None
    rss = row.rss_kb / base.rss_kb if row.rss_kb is not None and base.rss_kb else None
    return us, rss


def rss_growth_mb(rows: list[Row], row: Row) -> float | None:
    """Peak RSS of `row` minus that of the same variant at the smallest item count in `rows`, in MB (MiB);
    None for a row at the smallest count itself, and where either peak RSS is missing."""
    smallest = min(r.items for r in rows)
    if row.items == smallest or row.rss_kb is None:
        return None
    first = next((r for r in rows if r.variant == row.variant and r.items == smallest), None)
    if first is None or first.rss_kb is None:
        return None
    return (row.rss_kb - first.rss_kb) / 1024


def _growth(mb: float | None) -> str:
    """Signed whole MB; a change of less than half a MB either way is +0, never -0."""
    return "n/a" if mb is None else f"{round(mb):+,} MB"


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
            rss_mb = r.rss_kb / 1024 if r.rss_kb is not None else None
            growth = rss_growth_mb(rows, r)
            base = BASELINES.get(r.variant)
            us_ratio, rss_ratio = baseline_ratios(r, rows)
            print(
                f"{r.variant:22} {r.ran or n:>9,} {r.instances or '':>5} {_fmt(r.task_s, '.2f', 's'):>10} "
                f"{_fmt(r.ti_sum_s, '.2f', 's'):>11} {_fmt(r.dagrun_s, '.1f', 's'):>9} "
                f"{_fmt(r.per_item_us, ',.1f'):>9} {_fmt(rss_mb, '.0f', ' MB'):>9} "
                f"{_growth(growth) if n != smallest else '':>10} {base or '':>22} "
                f"{_fmt(us_ratio, '.2f', 'x') if base else '':>15} "
                f"{_fmt(rss_ratio, '.2f', 'x') if base else '':>11}"
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


def results_data(
    rows: list[Row],
    checkpoint_rows: list[CheckpointRow],
    cost: ProgressCost | None,
    concurrency: int,
    expand_max: int,
    load: dict[str, list[float]],
) -> dict[str, Any]:
    """The run as JSON-ready data (what bench/iterate/chart.py draws): ``rows`` (every :class:`Row` field
    plus ``per_item_us``, ``rss_growth_mb``, ``baseline``, ``per_item_vs_baseline``, ``rss_vs_baseline``),
    ``checkpoints`` (with ``writes_per_1000``, ``deletes_per_1000``), ``progress_publishing`` (None when
    not measured; the runs and their medians), ``load_average`` (``before``/``after``: os.getloadavg()),
    ``cpus``, ``concurrency``, ``expand_max``, ``baselines`` and ``when`` (UTC, ISO 8601)."""

    def row(r: Row) -> dict[str, Any]:
        us_ratio, rss_ratio = baseline_ratios(r, rows)
        return {
            **asdict(r),
            "per_item_us": r.per_item_us,
            "rss_growth_mb": rss_growth_mb(rows, r),
            "baseline": BASELINES.get(r.variant),
            "per_item_vs_baseline": us_ratio,
            "rss_vs_baseline": rss_ratio,
        }

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    progress = None
    if cost is not None:
        progress = {
            **asdict(cost),
            "on_items_median_s": median(cost.on_items_s),
            "off_items_median_s": median(cost.off_items_s),
            "on_task_median_s": median(cost.on_task_s),
            "off_task_median_s": median(cost.off_task_s),
        }
    return {
        "benchmark": "iterate",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average": load,
        "concurrency": concurrency,
        "expand_max": expand_max,
        "baselines": BASELINES,
        "rows": [row(r) for r in rows],
        "checkpoints": [
            {
                **asdict(c),
                "writes_per_1000": c.per_1000(c.writes),
                "deletes_per_1000": c.per_1000(c.deletes),
            }
            for c in checkpoint_rows
        ],
        "progress_publishing": progress,
    }


def write_results(path: Path, data: dict[str, Any]) -> None:
    """Write `data` (:func:`results_data`) to `path` as indented JSON, its folder created if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def run(
    ws: Workspace,
    pins: Pins,
    label: str,
    items: list[int],
    concurrency: int,
    expand_max: int,
    interpreter: Interpreter | None = None,
    progress_runs: int = 3,
    *,
    checkpoints: bool = True,
    chart: Path | None = None,
) -> int:
    """``./fork bench iterate``: build (if needed) the fork's environment, measure, print the tables, write
    the JSON and draw the PNG (`chart`, default .fork/bench/iterate.png; the JSON beside it).

    Returns 1 if a measurement failed, else 0; raises ForkError on bad options.
    """
    if not items or min(items) < 1:
        raise ForkError(f"--items must be positive counts, got {items}")
    if concurrency < 1 or expand_max < 1:
        raise ForkError("--concurrency and --expand-max must be at least 1")
    if progress_runs < 0:
        raise ForkError(f"--progress-runs must be 0 (off) or more, got {progress_runs}")
    png = chart or ws.state / "bench" / "iterate.png"
    if png.suffix.lower() != ".png":
        raise ForkError(f"--chart must name a .png file, got {png}", "its JSON is written beside it")
    python = ensure_env(ws, pins, label, interpreter=interpreter)
    load = {"before": list(os.getloadavg())}
    rows, checkpoint_rows, cost = measure(
        python,
        ws.root / "bench" / "dags",
        ws.state,
        items,
        concurrency,
        expand_max,
        progress_runs,
        checkpoints,
    )
    load["after"] = list(os.getloadavg())
    print_table(rows, concurrency)
    if checkpoint_rows:
        print_checkpoints(checkpoint_rows)
    if cost is not None:
        print_progress_cost(cost)
    results = png.with_suffix(".json")
    write_results(results, results_data(rows, checkpoint_rows, cost, concurrency, expand_max, load))
    draw_chart(python, ws.root / "bench" / "iterate" / "chart.py", results, png)
    print(f"\nresults: {results}\nchart:   {png}")
    failed = any(r.task_s is None and not r.note.startswith("not run") for r in rows)
    return 1 if failed or any(r.note for r in checkpoint_rows) else 0
