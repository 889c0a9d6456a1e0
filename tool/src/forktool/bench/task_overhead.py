"""./fork bench task-overhead: a sync and an async no-op task instance, fork vs base."""

from __future__ import annotations

import statistics

from forktool.bench.side_by_side import stacks_side_by_side
from forktool.errors import ForkError
from forktool.interpreters import Interpreter
from forktool.progress import say
from forktool.series.pins import Pins
from forktool.workspace import Workspace


def task_overhead(
    ws: Workspace, pins: Pins, label: str, runs: int, interpreter: Interpreter | None = None
) -> int:
    """Median duration of a sync and an async no-op task instance through the real supervisor."""
    with stacks_side_by_side(ws, pins, label, interpreter) as stacks:
        samples: dict[str, dict[str, list[float]]] = {
            name: {"sync_noop": [], "async_noop": []} for name in stacks
        }
        for run in range(runs + 1):  # the first round warms caches and is not counted
            for name, stack in stacks.items():
                result = stack.run_dag("noop_overhead")
                if result.state != "success":
                    raise ForkError(f"benchmark DAG failed on {name}: {result.tis}", f"see {stack.home}")
                if run:
                    for task_id, seconds in result.durations.items():
                        samples[name][task_id].append(float(seconds or 0.0))
            say(f"round {run}/{runs} done" + (" (warm-up)" if not run else ""))
    print(f"\nTask instance duration, median of {runs} runs (ti.duration: task runner start to finish)")
    print(f"{'':20} {'sync no-op':>12} {'async no-op':>12} {'async - sync':>13} {'async / sync':>13}")
    for name, by_task in samples.items():
        sync, async_ = statistics.median(by_task["sync_noop"]), statistics.median(by_task["async_noop"])
        delta_ms = (async_ - sync) * 1000
        ratio = async_ / sync
        cells = f"{sync * 1000:>10.1f}ms {async_ * 1000:>10.1f}ms {delta_ms:>+11.1f}ms {ratio:>12.2f}x"
        print(f"{name:20} {cells}")
    return 0
