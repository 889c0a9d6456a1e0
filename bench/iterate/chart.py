"""Charts of `./fork bench iterate` results (run by the patched environment, which has matplotlib).

python chart.py RESULTS_JSON PNG

Left: microseconds per item of every variant at every item count (log scale); right: the task process's
peak RSS. The machine's load average before and after the run is in the title.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {
    "iterate async": "#4f81bd",
    "asyncio.gather": "#9bbbd9",
    "iterate threads": "#c0504d",
    "ThreadPoolExecutor.map": "#e6a5a3",
    "expand": "#888888",
}


def main(results: str, png: str) -> None:
    with open(results) as f:
        data = json.load(f)
    rows = [r for r in data["rows"] if r.get("per_item_us") is not None]
    counts = sorted({r["items"] for r in rows})
    variants = [v for v in COLORS if any(r["variant"] == v for r in rows)]
    width = 0.8 / max(1, len(variants))
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    for i, variant in enumerate(variants):
        for ax, key, scale in ((left, "per_item_us", 1.0), (right, "rss_kb", 1 / 1024)):
            xs, ys = [], []
            for j, n in enumerate(counts):
                row = next(
                    (r for r in rows if r["variant"] == variant and r["items"] == n),
                    None,
                )
                if row is not None and row.get(key) is not None:
                    xs.append(j + (i - (len(variants) - 1) / 2) * width)
                    ys.append(row[key] * scale)
            bars = ax.bar(xs, ys, width, label=variant, color=COLORS[variant])
            ax.bar_label(bars, fmt="%.0f" if key == "rss_kb" else "%.1f", fontsize=7)
    for ax, title in (
        (left, "microseconds per item (log)"),
        (right, "peak RSS of the task process, MB"),
    ):
        ax.set_xticks(range(len(counts)), [f"{n:,} items" for n in counts])
        ax.set_title(title)
    left.set_yscale("log")
    left.legend(fontsize=8)
    load = data.get("load_average", {})
    before, after = load.get("before", [None])[0], load.get("after", [None])[0]
    fig.suptitle(
        f"./fork bench iterate: no-op items, concurrency {data['concurrency']}, {data['cpus']} CPUs, "
        f"load average {before:.2f} before / {after:.2f} after ({data['when']})"
        if before is not None and after is not None
        else "./fork bench iterate"
    )
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
