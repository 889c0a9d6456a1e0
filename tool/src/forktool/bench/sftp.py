"""./fork bench sftp: bulk SFTP downloads from a private loopback sshd, side by side in one run.

Contenders: OpenSSH's `sftp` (the reference), upstream's SFTPHook (one connection, and one connection
per file) and SFTPHookAsync + SFTPClientPool in the unpatched base environment, and the fork's pool
(get_directory) in the patched environment. Each runs as its own process into a fresh directory (on
tmpfs when there is room), every downloaded file's SHA-256 is checked, and the table reports files/s,
ratios and client CPU per file. A contender too slow for the whole set (one SSH connection per file)
runs on its first `subset` files in sorted order; its files/s and ratios still compare rates. Then a
mapped SFTPOperator, one task instance per file through real Airflow, over the first `mapped` files.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forktool.bench.chart import draw_chart
from forktool.errors import ForkError
from forktool.interpreters import Interpreter
from forktool.progress import say
from forktool.series.env import ensure_env, env_vars
from forktool.series.pins import Pins
from forktool.stack.airflow_stack import AirflowStack, free_port
from forktool.stack.sftp_dataset import generate_big, generate_dataset, scratch_root, verify
from forktool.stack.sshd import Sshd
from forktool.workspace import Workspace

DEFAULT_FILES = 17_000
DEFAULT_SEED = 98
CONN_ID = "sftp_bench"


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    env: str  # "openssh", "base" (unpatched environment) or "fork" (patched environment)
    argv: tuple[str, ...] = ()  # arguments of bench/sftp/contender.py
    subset: bool = False  # runs on the first Options.subset files only (one connection per file)
    direction: str = "get"  # "get": server -> client; "put": client -> server


CONTENDERS: tuple[Contender, ...] = (
    Contender("openssh", "OpenSSH sftp get -r (1 conn)", "openssh"),
    Contender("base-sync", "upstream SFTPHook (paramiko, 1 conn)", "base", ("base-sync",)),
    Contender(
        "base-sync-reconnect",
        "upstream SFTPHook (1 conn per file)",
        "base",
        ("base-sync-reconnect",),
        subset=True,
    ),
    Contender("base-pool", "upstream SFTPHookAsync+SFTPClientPool", "base", ("base-pool",)),
    Contender("fork-pool-1", "fork pool get_directory (1 conn)", "fork", ("fork-pool", "--pool-size", "1")),
    Contender("fork-pool-2", "fork pool get_directory (2 conns)", "fork", ("fork-pool", "--pool-size", "2")),
    Contender(
        "fork-files-2", "fork pool get_files list (2 conns)", "fork", ("fork-files", "--pool-size", "2")
    ),
)
CONTENDERS += (
    Contender(
        "base-user",
        "upstream: documented pool usage, 64 in flight",
        "base",
        ("user-code", "--in-flight", "64"),
    ),
    Contender(
        "fork-user",
        "fork: the same user code, 64 in flight",
        "fork",
        ("user-code", "--in-flight", "64"),
    ),
    Contender(
        "fork-user-quiet",
        "fork: the same, asyncssh.sftp=WARNING",
        "fork",
        ("user-code", "--in-flight", "64", "--asyncssh-sftp-level", "WARNING"),
    ),
    Contender(
        "fork-pool-1-uvloop",
        "fork pool get_directory (1 conn, uvloop)",
        "fork",
        ("fork-pool", "--pool-size", "1", "--uvloop"),
    ),
    Contender("openssh-put", "OpenSSH sftp put -r (1 conn)", "openssh", direction="put"),
    Contender(
        "fork-put-1",
        "fork pool put_directory (1 conn)",
        "fork",
        ("fork-put", "--pool-size", "1"),
        direction="put",
    ),
    Contender(
        "fork-put-2",
        "fork pool put_directory (2 conns)",
        "fork",
        ("fork-put", "--pool-size", "2"),
        direction="put",
    ),
    Contender(
        "fork-bulk-put",
        "fork SFTPBulkOperator put (1 conn)",
        "fork",
        ("fork-bulk-op-put", "--pool-size", "1"),
        direction="put",
    ),
)
DEFAULT_CONTENDERS = (
    "openssh",
    "base-sync",
    "base-sync-reconnect",
    "base-pool",
    "base-user",
    "fork-user",
    "fork-user-quiet",
    "fork-pool-1",
    "fork-pool-2",
    "fork-pool-1-uvloop",
)
#: --put: uploads of the same tree.
PUT_CONTENDERS = ("openssh-put", "fork-put-1", "fork-put-2", "fork-bulk-put")
#: --big: downloads and uploads of big files.
BIG_CONTENDERS = ("openssh", "fork-pool-1", "fork-pool-2", "openssh-put", "fork-put-1", "fork-put-2")
#: The contender profiled for the breakdown of client CPU per file (--profile).
PROFILED = "fork-pool-1"
DEFAULT_SUBSET = 200
DEFAULT_MAPPED = 100


@dataclass(frozen=True)
class Options:
    files: int = DEFAULT_FILES
    rounds: int = 1
    seed: int = DEFAULT_SEED
    chart: Path | None = None
    contenders: tuple[str, ...] = DEFAULT_CONTENDERS
    timeout: float = 1800
    mapped: int = DEFAULT_MAPPED  # files of the mapped SFTPOperator run (0: skip it)
    subset: int = DEFAULT_SUBSET  # files of the subset contenders (one connection per file)
    big: bool = False  # big files (one of big_mb, medium_files of medium_mb) instead of the small set
    big_mb: int = 1024
    medium_files: int = 10
    medium_mb: int = 100
    load: bool = False  # run everything idle and then with a CPU hog on one core
    profile: bool = False  # profile `profiled` once and print where its client CPU goes
    profiled: str = PROFILED


@dataclass
class Sample:
    seconds: float
    cpu: float  # client CPU seconds, user plus system
    bad: int = 0
    sys: float = 0.0  # of `cpu`, the system (kernel) part: socket and file system calls


@dataclass
class Row:
    name: str
    label: str
    env: str
    condition: str  # "idle" or "loaded" (a CPU hog on one core)
    data_set: str
    bytes: int  # bytes per round
    mb_s: float  # best of rounds, MB (10^6 bytes) per second
    median_mb_s: float
    files: int  # files per round: the whole set, or the first `subset` for a subset contender
    files_s: float  # best of rounds
    median_files_s: float
    cpu_ms_per_file: float  # client CPU of the best round
    sys_share: float  # of that CPU, the kernel's share (writing big files is mostly kernel time)
    vs_openssh: float | None
    vs_upstream_pool: float | None
    bad: int  # over all rounds
    samples: list[Sample]


@dataclass
class MappedRow:
    """Mapped SFTPOperator, one task instance per file, through the real supervisor (LocalExecutor)."""

    label: str
    env: str
    files: int
    files_s: float  # files / whole DAG run
    wall_s_per_file: float  # whole DAG run / files, AIRFLOW__CORE__PARALLELISM=4
    median_ti_s: float  # median duration of one mapped task instance
    bad: int


def _openssh(
    sshd: Sshd, src: Path, dest: Path, timeout: float, direction: str = "get"
) -> tuple[Sample, Path]:
    """OpenSSH's sftp, `get -r` of `src` into `dest` or `put -r` of the local `src` into `dest` on the
    server (the same machine); the tree lands in dest/src.name either way."""
    dest.mkdir(parents=True)
    batch = dest.with_suffix(".batch")
    if direction == "put":
        batch.write_text(f"lcd {src.parent}\ncd {dest}\nput -r {src.name}\n")
    else:
        batch.write_text(f"lcd {dest}\nget -r {src}\n")
    known_hosts = sshd.user_home() / ".ssh" / "known_hosts"
    argv = ["sftp", "-q", "-b", str(batch), "-P", str(sshd.port), "-i", str(sshd.client_key)]
    argv += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "BatchMode=yes", f"{sshd.user}@127.0.0.1"]
    t0 = time.perf_counter()
    with dest.with_suffix(".stderr").open("wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while (waited := os.wait4(proc.pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                proc.kill()
                raise ForkError(f"OpenSSH sftp took longer than {timeout:.0f} s", f"see {err.name}")
            time.sleep(0.01)
    seconds = time.perf_counter() - t0
    _, status, usage = waited
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise ForkError(f"OpenSSH sftp failed (exit {proc.returncode})", f"see {err.name}")
    # The rusage of a reaped process includes its reaped children: sftp's ssh transport.
    return Sample(seconds, usage.ru_utime + usage.ru_stime, sys=usage.ru_stime), dest / src.name


def _python(python: Path, env: dict[str, str], script: Path, argv: list[str], timeout: float) -> Sample:
    dest = Path(argv[argv.index("--dest") + 1])
    with dest.with_suffix(".stderr").open("w") as err:
        proc = subprocess.run(
            [str(python), str(script), *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=timeout,
        )
    if proc.returncode:
        raise ForkError(f"{argv[0]} failed (exit {proc.returncode})", f"see {err.name}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["files"] != len(Path(argv[argv.index("--list") + 1]).read_text().split()):
        raise ForkError(f"{argv[0]} reported {result['files']} files transferred", f"see {err.name}")
    return Sample(float(result["seconds"]), float(result["cpu"]), sys=float(result["sys"]))


@dataclass
class _Bench:
    """Runs one contender at a time against the server, into a fresh directory under `out`."""

    ws: Workspace
    sshd: Sshd
    data: Path
    sums: dict[str, str]
    out: Path
    pythons: dict[str, Path]
    timeout: float
    subset: int = DEFAULT_SUBSET

    def files_of(self, c: Contender) -> dict[str, str]:
        """What `c` downloads ({relative path: sha256}): the whole set, or its first `subset` files sorted."""
        if not c.subset or self.subset >= len(self.sums):
            return self.sums
        return {rel: self.sums[rel] for rel in sorted(self.sums)[: self.subset]}

    def measure(self, c: Contender) -> Sample:
        """One download of the contender's files, verified file by file; no connection may stay open."""
        sums = self.files_of(c)
        dest = self.out / c.name
        shutil.rmtree(dest, ignore_errors=True)
        if c.env == "openssh":  # `get -r` / `put -r` of the whole tree: never a subset
            sample, root = _openssh(self.sshd, self.data, dest, self.timeout, c.direction)
        elif c.direction == "put":
            dest.mkdir(parents=True)
            root = dest / self.data.name
            sample = self._contender(c, sums, self.data, root)
        else:
            sample, root = self._contender(c, sums, self.data, dest), dest
        sample.bad = verify(root, sums)
        shutil.rmtree(dest, ignore_errors=True)
        if left := self.sshd.wait_connections(0, timeout=10):
            raise ForkError(f"{c.name} left {left} SSH connection(s) open on the server")
        return sample

    def _contender(
        self, c: Contender, sums: dict[str, str], src: Path, dest: Path, extra: tuple[str, ...] = ()
    ) -> Sample:
        """Run bench/sftp/contender.py for `c` from `src` to `dest`."""
        listing = self.out / f"files-{len(sums)}.txt"
        if not listing.exists():
            listing.write_text("\n".join(sorted(sums)) + "\n")
        home = self.out / "airflow-home"
        home.mkdir(exist_ok=True)
        env = env_vars(self.pythons[c.env])
        env.update(
            AIRFLOW_CONN_SFTP_BENCH=self.sshd.airflow_connection(),
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
        )
        argv = [*c.argv, *extra, "--src", str(src), "--dest", str(dest), "--list", str(listing)]
        script = self.ws.root / "bench" / "sftp" / "contender.py"
        return _python(self.pythons[c.env], env, script, argv, self.timeout)

    def profile(self, c: Contender, out: Path) -> tuple[Sample, dict[str, float]]:
        """One download by `c` under cProfile: its sample and the profile's own time by category."""
        dest = self.out / f"{c.name}-profiled"
        shutil.rmtree(dest, ignore_errors=True)
        sample = self._contender(c, self.sums, self.data, dest, ("--profile", str(out)))
        shutil.rmtree(dest, ignore_errors=True)
        self.sshd.wait_connections(0, timeout=10)
        return sample, profile_breakdown(out)


#: Where client CPU goes, by the file of the function that spent it (first match wins). The first entry is
#: not CPU: cProfile counts the time the event loop sleeps in its selector as that call's own time.
PROFILE_CATEGORIES = (
    ("waiting for I/O in the selector (not CPU)", ("method 'poll' of 'select.", "method 'select' of")),
    ("asyncssh: crypto (cipher, MAC)", ("asyncssh/crypto", "cryptography/", "_cffi")),
    ("asyncssh: packet handling (connection, channel, SFTP)", ("asyncssh/",)),
    ("logging (logging, structlog)", ("logging/", "structlog/")),
    ("fork bookkeeping (pools/, transfer, hooks)", ("airflow/providers/sftp/", "airflow/providers/ssh/")),
    ("event loop (asyncio, selectors, uvloop)", ("asyncio/", "selectors.py", "uvloop/")),
    (
        "file and socket system calls",
        ("built-in method posix.", "method 'send", "method 'recv", "method 'write' of '_io"),
    ),
)


def profile_breakdown(stats_file: Path) -> dict[str, float]:
    """Seconds of own time (cProfile tottime) per PROFILE_CATEGORIES entry, plus "other"."""
    import pstats

    totals: dict[str, float] = {name: 0.0 for name, _ in PROFILE_CATEGORIES}
    totals["other"] = 0.0
    stats = pstats.Stats(str(stats_file)).stats  # type: ignore[attr-defined]
    for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        where = f"{filename}:{func}" if filename != "~" else func
        name = next((n for n, keys in PROFILE_CATEGORIES if any(k in where for k in keys)), "other")
        totals[name] += tottime
    return totals


def print_profile(sample: Sample, files: int, breakdown: dict[str, float], name: str = PROFILED) -> None:
    total = sum(breakdown.values()) or 1.0
    print(
        f"\nWhere the client CPU goes: {name} under cProfile, {files} files, "
        f"{1000 * sample.cpu / files:.3f} ms CPU per file profiled (cProfile adds its own overhead per call: "
        "shares, not absolute times)"
    )
    for name, seconds in sorted(breakdown.items(), key=lambda kv: -kv[1]):
        print(f"  {name:56} {100 * seconds / total:5.1f}%  {1000 * seconds / files:6.3f} ms/file")


def measure_contender(
    ws: Workspace, sshd: Sshd, data: Path, sums: dict[str, str], out: Path, python: Path, name: str
) -> Sample:
    """One verified download of the data set by one Python contender (e.g. "base-pool" for upstream's)."""
    contender = next(c for c in CONTENDERS if c.name == name)
    return _Bench(ws, sshd, data.resolve(), sums, out, {contender.env: python}, 900).measure(contender)


@contextlib.contextmanager
def cpu_hog(enabled: bool) -> Iterator[None]:
    """A busy-looping process pinned to CPU 0 while the block runs (when `enabled`)."""
    if not enabled:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(hog.pid, {0})
        time.sleep(0.5)  # let it take its core
        yield
    finally:
        hog.kill()
        hog.wait()


def _data_sets(ws: Workspace, opts: Options) -> list[tuple[str, Path, dict[str, str]]]:
    """(name, directory, {relative path: sha256}) of every data set the run transfers."""
    base = ws.state / "bench-data"
    if not opts.big:
        data = base / f"sftp-{opts.files}-seed{opts.seed}"
        say(f"data set: {opts.files} files, seed {opts.seed} ({data.relative_to(ws.root)})")
        return [(f"{opts.files:,} small files", data, generate_dataset(data, opts.files, opts.seed))]
    sets = []
    for count, mb in ((1, opts.big_mb), (opts.medium_files, opts.medium_mb)):
        if count < 1 or mb < 1:
            continue
        data = base / f"sftp-big-{count}x{mb}MB-seed{opts.seed}"
        say(f"data set: {count} file(s) of {mb} MB ({data.relative_to(ws.root)})")
        sets.append((f"{count} x {mb} MB", data, generate_big(data, [mb * 1_000_000] * count, opts.seed)))
    return sets


def run(ws: Workspace, pins: Pins, label: str, opts: Options, interpreter: Interpreter | None = None) -> int:
    """Run the benchmark, print the tables, write the JSON and the chart; fail on any checksum mismatch."""
    by_name = {c.name: c for c in CONTENDERS}
    unknown = [name for name in opts.contenders if name not in by_name]
    if unknown:
        raise ForkError(f"unknown contender(s): {', '.join(unknown)}", f"choose from {', '.join(by_name)}")
    contenders = [by_name[name] for name in opts.contenders]
    if opts.files < 1 or opts.rounds < 1 or opts.subset < 1 or opts.mapped < 0:
        raise ForkError("--files, --rounds and --subset must be at least 1, --mapped at least 0")
    pythons = {"fork": ensure_env(ws, pins, label, interpreter=interpreter)}
    if opts.mapped or any(c.env == "base" for c in contenders):
        pythons["base"] = ensure_env(ws, pins, label, base=True, interpreter=interpreter)
    data_sets = _data_sets(ws, opts)
    conditions = ("idle", "loaded") if opts.load else ("idle",)
    load: dict[str, list[float]] = {"before": list(os.getloadavg())}

    sshd = Sshd(ws.state / "bench-sshd", free_port(), getpass.getuser())
    sshd.stop()  # a server left behind by an interrupted run
    rows: list[Row] = []
    mapped: list[MappedRow] = []
    profile: dict[str, Any] | None = None
    size = max(sum((data / rel).stat().st_size for rel in sums) for _, data, sums in data_sets)
    with tempfile.TemporaryDirectory(prefix="fork-bench-sftp-", dir=scratch_root(ws, size)) as tmp:
        say(f"starting sshd on 127.0.0.1:{sshd.port}")
        sshd.start()
        try:
            for set_name, data, sums in data_sets:
                bench = _Bench(ws, sshd, data.resolve(), sums, Path(tmp), pythons, opts.timeout, opts.subset)
                files = {c.name: len(bench.files_of(c)) for c in contenders}
                nbytes = {
                    c.name: sum((data / rel).stat().st_size for rel in bench.files_of(c)) for c in contenders
                }
                for condition in conditions:
                    samples: dict[str, list[Sample]] = {c.name: [] for c in contenders}
                    with cpu_hog(condition == "loaded"):
                        load[f"{set_name}, {condition}"] = list(os.getloadavg())
                        for rnd in range(opts.rounds):
                            for c in contenders if rnd % 2 == 0 else contenders[::-1]:  # no order bias
                                sample = bench.measure(c)
                                samples[c.name].append(sample)
                                say(
                                    f"{set_name}, {condition}, round {rnd + 1}/{opts.rounds} {c.name:19} "
                                    f"{files[c.name] / sample.seconds:7.0f} files/s "
                                    f"{nbytes[c.name] / 1e6 / sample.seconds:7.1f} MB/s "
                                    f"{sample.seconds:7.2f} s  cpu {sample.cpu:6.2f} s "
                                    f"(sys {sample.sys:5.2f})  bad {sample.bad}"
                                )
                    rows += _rows(contenders, samples, files, nbytes, condition, set_name)
                if opts.profile and not opts.big and opts.profiled in by_name:
                    stats_file = (opts.chart or ws.state / "bench" / "sftp.png").with_suffix(".pstats")
                    stats_file.parent.mkdir(parents=True, exist_ok=True)
                    sample, breakdown = bench.profile(by_name[opts.profiled], stats_file)
                    profile = {"contender": opts.profiled, "files": len(sums), "cpu": sample.cpu, **breakdown}
            if opts.mapped and not opts.big:
                _, data, sums = data_sets[0]
                mapped = _mapped(
                    ws, sshd, data.resolve(), sums, pythons, Path(tmp), min(opts.mapped, len(sums))
                )
        finally:
            sshd.kill_connections()
            sshd.stop()
    load["after"] = list(os.getloadavg())

    for set_name, _, sums in data_sets:
        for condition in conditions:
            group = [r for r in rows if r.data_set == set_name and r.condition == condition]
            _print_table(group, len(sums), sum(r.bytes for r in group[:1]), opts.rounds, condition, set_name)
    _print_mapped(mapped, rows)
    if profile is not None:
        print_profile(
            Sample(0.0, profile["cpu"]),
            profile["files"],
            {k: v for k, v in profile.items() if k not in ("contender", "files", "cpu")},
            profile["contender"],
        )
    chart = opts.chart or ws.state / "bench" / ("sftp-big.png" if opts.big else "sftp.png")
    chart.parent.mkdir(parents=True, exist_ok=True)
    results = chart.with_suffix(".json")
    results.write_text(
        json.dumps(
            {
                "benchmark": "sftp",
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "cpus": os.cpu_count(),
                "load_average": load,
                "metric": "mb_s" if opts.big else "files_s",
                "files": len(data_sets[0][2]),
                "bytes": size,
                "seed": opts.seed,
                "rounds": opts.rounds,
                "conditions": list(conditions),
                "rows": [asdict(r) for r in rows],
                "mapped_operator": [asdict(r) for r in mapped],
                "profile": profile,
            },
            indent=1,
        )
        + "\n"
    )
    draw_chart(pythons["fork"], ws.root / "bench" / "sftp" / "chart.py", results, chart)
    print(f"\nresults: {results}\nchart:   {chart}")
    bad = sum(r.bad for r in rows) + sum(r.bad for r in mapped)
    if bad:
        raise ForkError(
            f"{bad} transferred file(s) were missing, corrupt or unexpected", "see the table above"
        )
    return 0


def _mapped(
    ws: Workspace, sshd: Sshd, data: Path, sums: dict[str, str], pythons: dict[str, Path], out: Path, n: int
) -> list[MappedRow]:
    """The first `n` files through a mapped SFTPOperator, upstream base then the fork."""
    files = sorted(sums)[:n]
    rows = []
    for env, label in (("base", "upstream base"), ("fork", "fork")):
        stack = AirflowStack(
            home=out / f"stack-{env}",
            dags_folder=ws.root / "bench" / "sftp" / "dags",
            python=pythons[env],
            extra_env={"AIRFLOW_CONN_SFTP_BENCH": sshd.airflow_connection()},
        )
        dest = out / f"mapped-{env}"
        say(f"mapped SFTPOperator over {n} files: starting Airflow ({label})")
        try:
            stack.start()
            conf: dict[str, object] = {"src": str(data), "dest": str(dest), "files": files}
            result = stack.run_dag("sftp_mapped", conf=conf, timeout=300 + 10 * n)
        finally:
            stack.stop()
        if result.state != "success":
            raise ForkError(
                f"the mapped SFTPOperator run failed on {label}: {result.tis}", f"see {stack.home}"
            )
        durations = [float(d or 0.0) for key, d in result.durations.items() if key.startswith("get[")]
        bad = verify(dest, {rel: sums[rel] for rel in files})
        rows.append(
            MappedRow(
                label, env, n, n / result.seconds, result.seconds / n, statistics.median(durations), bad
            )
        )
        say(f"mapped SFTPOperator ({label}): {result.seconds / n:.3f} s/file, bad {bad}")
        shutil.rmtree(dest, ignore_errors=True)
    return rows


def _print_mapped(rows: list[MappedRow], table: list[Row]) -> None:
    if not rows:
        return
    reference = next((r.files_s for r in table if r.name == "openssh"), None)
    print(
        f"\nMapped SFTPOperator, one task instance per file through Airflow's LocalExecutor "
        f"(first {rows[0].files} files, parallelism 4)"
    )
    print(f"{'':40} {'files/s':>8} {'vs OpenSSH':>10} {'wall s/file':>11} {'median TI s':>11} {'bad':>4}")
    for r in rows:
        vs_openssh = ratio(r.files_s / reference if reference else None)
        print(
            f"{'SFTPOperator.expand, ' + r.label:40} {r.files_s:8.2f} {vs_openssh:>10} "
            f"{r.wall_s_per_file:11.3f} {r.median_ti_s:11.3f} {r.bad:4d}"
        )


def _rows(
    contenders: list[Contender],
    samples: dict[str, list[Sample]],
    files: dict[str, int],
    nbytes: dict[str, int] | None = None,
    condition: str = "idle",
    data_set: str = "",
) -> list[Row]:
    """One row per contender; rates are per contender's own file count, so subsets compare too. Ratios
    compare contenders of the same direction (OpenSSH get or put) within one condition."""
    best = {c.name: min(samples[c.name], key=lambda s: s.seconds) for c in contenders}
    rate_of = {name: files[name] / sample.seconds for name, sample in best.items()}
    reference = {"get": rate_of.get("openssh"), "put": rate_of.get("openssh-put")}
    upstream = rate_of.get("base-pool")
    nbytes = nbytes or {}
    rows = []
    for c in contenders:
        n, size = files[c.name], nbytes.get(c.name, 0)
        rate = rate_of[c.name]
        ref = reference[c.direction]
        rows.append(
            Row(
                name=c.name,
                label=c.label,
                env=c.env,
                condition=condition,
                data_set=data_set,
                bytes=size,
                mb_s=size / 1e6 / best[c.name].seconds,
                median_mb_s=statistics.median(size / 1e6 / s.seconds for s in samples[c.name]),
                files=n,
                files_s=rate,
                median_files_s=statistics.median(n / s.seconds for s in samples[c.name]),
                cpu_ms_per_file=1000 * best[c.name].cpu / n,
                sys_share=best[c.name].sys / best[c.name].cpu if best[c.name].cpu else 0.0,
                vs_openssh=rate / ref if ref else None,
                vs_upstream_pool=rate / upstream if upstream and c.direction == "get" else None,
                bad=sum(s.bad for s in samples[c.name]),
                samples=samples[c.name],
            )
        )
    return rows


def ratio(value: float | None) -> str:
    """A speed ratio for the table: "2.41x", or "1/160" when it is below a tenth."""
    if value is None:
        return "-"
    return f"{value:.2f}x" if value >= 0.1 else f"1/{1 / value:.0f}"


def _print_table(
    rows: list[Row], files: int, size: int, rounds: int, condition: str = "idle", data_set: str = ""
) -> None:
    how = "idle" if condition == "idle" else "loaded: a CPU hog on one core"
    print(
        f"\nSFTP transfers of {data_set or f'{files} files'} ({size / 1e6:.0f} MB) over 127.0.0.1, best of "
        f"{rounds} round(s); {how}; load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    head = (
        f"{'contender':46} {'files':>6} {'files/s':>8} {'median':>8} {'MB/s':>7} {'median':>7} "
        f"{'vs OpenSSH':>10} {'vs up.pool':>10}"
    )
    print(f"{head} {'cpu ms/file':>11} {'sys':>4} {'bad':>4}")
    for r in rows:
        mark = "*" if r.files < files else ""
        print(
            f"{r.label + mark:46} {r.files:6d} {r.files_s:8.0f} {r.median_files_s:8.0f} {r.mb_s:7.1f} "
            f"{r.median_mb_s:7.1f} {ratio(r.vs_openssh):>10} {ratio(r.vs_upstream_pool):>10} "
            f"{r.cpu_ms_per_file:11.3f} {r.sys_share:4.0%} {r.bad:4d}"
        )
    print("vs OpenSSH: against OpenSSH's sftp in the same direction (get -r or put -r), same condition")
    print("median: over the rounds, of the column before it (the other columns are from the best round)")
    print(
        "sys: the kernel's share of that client CPU (socket and file system calls); on some VMs the kernel's "
        "cost of writing a big file's fresh pages varies several-fold between runs, for any client"
    )
    if subsets := [r for r in rows if r.files < files]:
        print(
            f"* on the first {subsets[0].files} files (sorted) only: one SSH connection per file is too slow "
            "for the whole set; files/s and ratios compare rates"
        )
