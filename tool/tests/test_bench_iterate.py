"""`./fork bench iterate` bookkeeping: baselines and their ratios, RSS growth, table, JSON and chart."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from forktool.bench import iterate as bench_iterate
from forktool.bench.iterate import BASELINES, VARIANTS, CheckpointRow, ProgressCost, Row

REPO = Path(__file__).resolve().parents[2]
MB = 1024  # rss_kb per MB


#: Peak RSS (MB) per item count and variant.
RSS_MB = {
    1000: {
        "iterate async": 100,
        "asyncio.gather": 110,
        "iterate threads": 105,
        "ThreadPoolExecutor.map": 140,
    },
    100_000: {
        "iterate async": 150,
        "asyncio.gather": 330,
        "iterate threads": 155,
        "ThreadPoolExecutor.map": 420,
    },
}
#: Microseconds per item of the single-instance variants.
PER_ITEM_US = {"iterate async": 12, "asyncio.gather": 24, "iterate threads": 30, "ThreadPoolExecutor.map": 20}


def _rows() -> list[Row]:
    """Two item counts as measure() returns them; .expand() over 10 items (90 MB), then not run."""
    rows = []
    for n, rss_mb in RSS_MB.items():
        for variant, _ in VARIANTS:
            if variant != "expand":
                task_s = PER_ITEM_US[variant] * n / 1e6
                rows.append(Row(variant, n, n, task_s + 1, task_s, task_s, 1, rss_mb[variant] * MB))
            elif n == 1000:
                rows.append(Row("expand", n, 10, 5.0, 3.0, 3.5, 10, 90 * MB))
            else:
                rows.append(Row("expand", n, note="not run: one task process per item"))
    return rows


def _row(rows: list[Row], variant: str, items: int) -> Row:
    return next(r for r in rows if r.variant == variant and r.items == items)


def test_variants_are_in_table_order_and_every_baseline_is_a_variant_with_a_dag() -> None:
    assert [v for v, _ in VARIANTS] == [
        "iterate async",
        "asyncio.gather",
        "iterate threads",
        "ThreadPoolExecutor.map",
        "expand",
    ]
    assert BASELINES == {
        "iterate async": "asyncio.gather",
        "iterate threads": "ThreadPoolExecutor.map",
        "expand": "asyncio.gather",
    }
    dags = REPO / "bench" / "dags" / "iterate_overhead.py"
    dag_ids = {
        node.args[0].value
        for node in ast.walk(ast.parse(dags.read_text()))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "DAG"
        and isinstance(node.args[0], ast.Constant)
    }
    assert {dag_id for _, dag_id in VARIANTS} <= dag_ids


def test_each_variant_is_compared_with_its_own_baseline_at_the_same_count() -> None:
    rows = _rows()
    threads = _row(rows, "iterate threads", 100_000)
    assert bench_iterate.baseline_of(threads, rows) is _row(rows, "ThreadPoolExecutor.map", 100_000)
    assert bench_iterate.baseline_ratios(threads, rows) == pytest.approx((30 / 20, 155 / 420))
    async_ = _row(rows, "iterate async", 1000)
    assert bench_iterate.baseline_of(async_, rows) is _row(rows, "asyncio.gather", 1000)
    assert bench_iterate.baseline_ratios(async_, rows) == pytest.approx((12 / 24, 100 / 110))
    assert bench_iterate.baseline_ratios(_row(rows, "iterate threads", 1000), rows) == pytest.approx(
        (1.5, 0.75)
    )
    expand = _row(rows, "expand", 1000)  # over 10 items: per item as measured
    assert bench_iterate.baseline_ratios(expand, rows) == pytest.approx((3.0 / 10 * 1e6 / 24, 90 / 110))
    # the baselines themselves have none; a row without a measurement gets no ratio
    assert bench_iterate.baseline_of(_row(rows, "asyncio.gather", 1000), rows) is None
    assert bench_iterate.baseline_ratios(_row(rows, "ThreadPoolExecutor.map", 1000), rows) == (None, None)
    assert bench_iterate.baseline_ratios(_row(rows, "expand", 100_000), rows) == (None, None)
    _row(rows, "asyncio.gather", 1000).rss_kb = None
    assert bench_iterate.baseline_ratios(async_, rows) == pytest.approx((0.5, None))


def test_rss_growth_is_over_the_same_variant_at_the_smallest_count() -> None:
    rows = _rows()
    growth = {r.variant: bench_iterate.rss_growth_mb(rows, r) for r in rows if r.items == 100_000}
    assert growth == {
        "iterate async": 50.0,
        "asyncio.gather": 220.0,
        "iterate threads": 50.0,
        "ThreadPoolExecutor.map": 280.0,
        "expand": None,  # not run
    }
    assert all(bench_iterate.rss_growth_mb(rows, r) is None for r in rows if r.items == 1000)
    _row(rows, "iterate threads", 1000).rss_kb = None  # the smallest count's RSS is missing: no growth
    assert bench_iterate.rss_growth_mb(rows, _row(rows, "iterate threads", 100_000)) is None
    # the smallest --items count, whatever order they were given in
    swapped = [r for r in rows if r.items == 100_000] + [r for r in rows if r.items == 1000]
    assert bench_iterate.rss_growth_mb(swapped, _row(rows, "iterate async", 100_000)) == 50.0


def test_table_shows_baseline_ratios_and_growth(capsys: pytest.CaptureFixture[str]) -> None:
    bench_iterate.print_table(_rows(), 16)
    out = capsys.readouterr().out
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("variant"))
    assert "vs 1,000" in head and "baseline" in head and "us/item vs base" in head
    threads = [line for line in lines if line.startswith("iterate threads")]
    assert threads[0].split()[-3:] == ["ThreadPoolExecutor.map", "1.50x", "0.75x"]  # no growth at 1,000
    assert threads[1].split()[-5:] == ["+50", "MB", "ThreadPoolExecutor.map", "1.50x", "0.37x"]
    gather = [line for line in lines if line.startswith("asyncio.gather")]
    assert gather[1].split()[-2:] == ["+220", "MB"]  # a baseline: growth, no ratios
    assert "expand, 100,000 items: not run" in out
    assert [bench_iterate._growth(mb) for mb in (-0.07, 0.7, -2.6, None)] == [
        "+0 MB",
        "+1 MB",
        "-3 MB",
        "n/a",
    ]


def test_results_json_has_rows_checkpoints_progress_and_load(tmp_path: Path) -> None:
    rows = _rows()
    checkpoints = [CheckpointRow("80-180 ms items, success", 2000, writes=10, deletes=3)]
    cost = ProgressCost(100_000, [1.3, 1.2], [1.4, 1.1], [0.6, 0.5], [0.5, 0.7], [2, 2])
    load = {"before": [0.5, 0.4, 0.3], "after": [1.5, 0.6, 0.4]}
    data = bench_iterate.results_data(rows, checkpoints, cost, 16, 250, load)
    path = tmp_path / "sub" / "iterate.json"
    bench_iterate.write_results(path, data)
    read = json.loads(path.read_text())
    assert read == json.loads(json.dumps(data))
    assert {"when", "cpus", "concurrency", "expand_max", "baselines", "load_average"} <= set(read)
    assert (read["benchmark"], read["concurrency"], read["load_average"]) == ("iterate", 16, load)
    assert read["baselines"] == BASELINES
    assert [(r["variant"], r["items"]) for r in read["rows"]] == [(r.variant, r.items) for r in rows]
    threads = next(r for r in read["rows"] if (r["variant"], r["items"]) == ("iterate threads", 100_000))
    assert threads["per_item_us"] == pytest.approx(30.0)
    assert threads["rss_growth_mb"] == 50.0 and threads["rss_kb"] == 155 * MB
    assert threads["baseline"] == "ThreadPoolExecutor.map"
    assert threads["per_item_vs_baseline"] == pytest.approx(1.5)
    assert threads["rss_vs_baseline"] == pytest.approx(155 / 420)
    assert read["checkpoints"][0]["writes_per_1000"] == 5.0 and read["checkpoints"][0]["deletes"] == 3
    progress = read["progress_publishing"]
    assert progress["items"] == 100_000 and progress["writes"] == [2, 2]
    assert progress["on_items_median_s"] == pytest.approx(0.55)
    assert progress["off_items_median_s"] == pytest.approx(0.6)
    quick = bench_iterate.results_data(rows, [], None, 4, 3, load)  # --no-checkpoints --progress-runs 0
    assert (quick["checkpoints"], quick["progress_publishing"]) == ([], None)


def test_chart_draws_the_results_json(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    load = {"before": [0.5, 0.4, 0.3], "after": [1.5, 0.6, 0.4]}
    results = tmp_path / "iterate.json"
    bench_iterate.write_results(results, bench_iterate.results_data(_rows(), [], None, 16, 250, load))
    png = tmp_path / "iterate.png"
    chart = REPO / "bench" / "iterate" / "chart.py"
    subprocess.run([sys.executable, str(chart), str(results), str(png)], check=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
