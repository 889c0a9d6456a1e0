"""./fork bench sftp's bookkeeping: subset contenders, their verification, rates, table and chart."""

from __future__ import annotations

import cProfile
import json
import selectors
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from forktool.bench import sftp as bench_sftp
from forktool.bench.sftp import CONTENDERS, MappedRow, Sample
from forktool.stack.sftp_dataset import generate_dataset, verify
from forktool.stack.sshd import Sshd
from forktool.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
BY_NAME = {c.name: c for c in CONTENDERS}


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "data"
    return root, generate_dataset(root, 30, seed=7)


def _bench(tmp_path: Path, data: tuple[Path, dict[str, str]], subset: int) -> bench_sftp._Bench:
    root, sums = data
    sshd = Sshd(tmp_path / "sshd", 0, "nobody")  # never started: files_of does not talk to it
    return bench_sftp._Bench(Workspace(REPO), sshd, root, sums, tmp_path / "out", {}, 60, subset)


def test_subset_contender_gets_the_first_files_in_sorted_order(
    tmp_path: Path, data: tuple[Path, dict[str, str]]
) -> None:
    sums = data[1]
    bench = _bench(tmp_path, data, subset=5)
    subset = bench.files_of(BY_NAME["base-sync-reconnect"])
    assert list(subset) == sorted(sums)[:5]
    assert subset == {rel: sums[rel] for rel in sorted(sums)[:5]}
    assert bench.files_of(BY_NAME["base-sync"]) is sums  # whole-set contenders ignore the subset
    assert _bench(tmp_path, data, subset=30).files_of(BY_NAME["base-sync-reconnect"]) is sums


def test_verify_counts_against_the_subset_only(tmp_path: Path, data: tuple[Path, dict[str, str]]) -> None:
    root, sums = data
    subset = _bench(tmp_path, data, subset=5).files_of(BY_NAME["base-sync-reconnect"])
    dest = tmp_path / "dest"
    for rel in subset:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / rel, dest / rel)
    assert verify(dest, subset) == 0
    assert verify(dest, sums) == len(sums) - 5  # the rest is missing
    extra = next(rel for rel in sorted(sums) if rel not in subset)
    shutil.copy(root / extra, dest / extra)
    assert verify(dest, subset) == 1  # a file the subset run should not have written
    first = next(iter(subset))
    (dest / first).write_bytes(b"corrupt")
    assert verify(dest, subset) == 2


def test_rates_and_ratios_use_each_contenders_own_file_count(capsys: pytest.CaptureFixture[str]) -> None:
    contenders = [BY_NAME[n] for n in ("openssh", "base-sync-reconnect", "base-pool")]
    samples = {
        "openssh": [Sample(0.5, 0.2, sys=0.05), Sample(0.6, 0.2, sys=0.15)],
        "base-sync-reconnect": [Sample(10.0, 5.0)],
        "base-pool": [Sample(1.5, 1.2)],
    }
    rows = bench_sftp._rows(
        contenders, samples, {"openssh": 600, "base-sync-reconnect": 50, "base-pool": 600}
    )
    reconnect = rows[1]
    assert (reconnect.files, reconnect.files_s, reconnect.cpu_ms_per_file) == (50, 5.0, 100.0)
    assert reconnect.vs_openssh == pytest.approx(5.0 / 1200)
    assert reconnect.vs_upstream_pool == pytest.approx(5.0 / 400)
    assert rows[0].files_s == 1200 and rows[0].median_files_s == pytest.approx(1100)
    assert rows[0].sys_share == pytest.approx(0.25)  # the kernel's share of the best round's CPU

    bench_sftp._print_table(rows, 600, 7_000_000, 2)
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("upstream SFTPHook (1 conn per file)*"))
    assert line.split()[6:12] == ["50", "5", "5", "0.0", "0.0", "1/240"]
    openssh = next(line for line in out.splitlines() if line.startswith("OpenSSH sftp get -r"))
    assert openssh.split()[-3:] == ["0.333", "25%", "0"]  # cpu ms/file, sys, bad
    assert "* on the first 50 files (sorted) only" in out
    assert bench_sftp.ratio(0.1) == "0.10x" and bench_sftp.ratio(None) == "-"


def test_put_rows_compare_with_openssh_put_in_the_same_condition() -> None:
    contenders = [BY_NAME[n] for n in ("openssh", "openssh-put", "fork-put-1", "fork-pool-1")]
    samples = {
        "openssh": [Sample(1.0, 0.5)],
        "openssh-put": [Sample(2.0, 0.5)],
        "fork-put-1": [Sample(1.0, 0.4)],
        "fork-pool-1": [Sample(0.5, 0.4)],
    }
    files = dict.fromkeys(samples, 100)
    samples["fork-put-1"] += [Sample(2.0, 0.4), Sample(4.0, 0.4)]
    rows = bench_sftp._rows(contenders, samples, files, dict.fromkeys(samples, 10_000_000), "loaded", "set")
    by_name = {r.name: r for r in rows}
    assert by_name["fork-put-1"].median_mb_s == pytest.approx(5.0)  # big files: the median in MB/s
    assert by_name["fork-put-1"].vs_openssh == pytest.approx(2.0)  # against put -r, not get -r
    assert by_name["fork-pool-1"].vs_openssh == pytest.approx(2.0)
    assert by_name["fork-put-1"].mb_s == pytest.approx(10.0)
    assert {r.condition for r in rows} == {"loaded"}


def test_chart_draws_subset_and_mapped_rows(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    contenders = [BY_NAME[n] for n in ("openssh", "base-sync-reconnect")]
    samples = {"openssh": [Sample(0.5, 0.2)], "base-sync-reconnect": [Sample(10.0, 5.0)]}
    rows = bench_sftp._rows(contenders, samples, {"openssh": 600, "base-sync-reconnect": 50})
    mapped = [MappedRow("upstream base", "base", 10, 0.5, 2.0, 0.7, 0)]
    results = tmp_path / "sftp.json"
    results.write_text(
        json.dumps(
            {
                "files": 600,
                "rounds": 1,
                "rows": [asdict(r) for r in rows],
                "mapped_operator": [asdict(m) for m in mapped],
            }
        )
    )
    png = tmp_path / "sftp.png"
    chart = REPO / "bench" / "sftp" / "chart.py"
    subprocess.run([sys.executable, str(chart), str(results), str(png)], check=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_profile_breakdown_names_time_blocked_in_the_selector(tmp_path: Path) -> None:
    selector = selectors.DefaultSelector()
    profiler = cProfile.Profile()
    profiler.enable()
    selector.select(timeout=0.2)  # nothing registered: sleeps, as an idle event loop does
    profiler.disable()
    selector.close()
    stats = tmp_path / "profile.pstats"
    profiler.dump_stats(stats)
    breakdown = bench_sftp.profile_breakdown(stats)
    waiting = breakdown["waiting for I/O in the selector (not CPU)"]
    assert waiting >= 0.15, breakdown
    assert breakdown["other"] < 0.05, breakdown
