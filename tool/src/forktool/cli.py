"""./fork: the one entry point of the fork. Run `./fork help` for the commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forktool import interpreters
from forktool.errors import ForkError
from forktool.progress import say
from forktool.series import pins as pins_mod
from forktool.series import tree
from forktool.series.git import Git
from forktool.workspace import Workspace


def _label(args: argparse.Namespace, pins: pins_mod.Pins) -> str:
    label: str = args.label if args.label is not None else pins.label
    if label and not all(part.isalnum() for part in label.split(".")):
        raise ForkError(
            f"invalid local label {label!r}", "use letters, digits and dots, e.g. aip98 or acme.1"
        )
    return label


def _python(args: argparse.Namespace) -> interpreters.Interpreter:
    """The interpreter --python names (a version or a path), else the tool's own."""
    return interpreters.resolve(args.python)


def cmd_materialize(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    head = tree.materialize(ws, pins, force=args.force, base_only=args.base_only)
    say(f"materialized {ws.tree} at {head} ({len(tree.series(ws)) if not args.base_only else 0} patches)")
    return 0


def cmd_apply(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    head = tree.reapply(ws, pins, force=args.force)
    say(f"applied {len(tree.series(ws))} patches; HEAD {head}")
    return 0


def cmd_export(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    if args.check:
        stale = tree.stale_exports(ws, pins)
        for name in stale:
            print(f"stale  {name}")
        if stale:
            raise ForkError(
                f"re-exporting the freshly applied series changes {len(stale)} file(s) in patches/: "
                + ", ".join(stale),
                "run ./fork apply then ./fork export, and commit patches/ (never edit a patch by hand)",
            )
        say("export check passed: re-exporting the series reproduces patches/ byte for byte")
        return 0
    if not tree.is_materialized(ws):
        raise ForkError(f"{ws.tree} does not exist", "run ./fork materialize first")
    changed = tree.export(ws)
    say(f"exported; changed: {', '.join(changed)}" if changed else "exported; patches/ is unchanged")
    return 0


def cmd_status(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    print("upstream base (upstream.toml):")
    for d in pins.dists:
        print(f"  {d.name:36} {d.version:8} {d.folder + '/':22} {'rebuilt' if d.rebuild else 'from PyPI'}")
    patches = tree.series(ws)
    print(f"series: {len(patches)} patches in patches/")
    if not tree.is_materialized(ws):
        for p in patches:
            print(f"  [ ] {p.name}")
        print("tree: not materialized (run ./fork materialize)")
        return 0
    applied = tree.applied_patches(ws)
    for p in patches:
        print(f"  [{'x' if applied[p.name] else ' '}] {p.name}")
    git = Git(ws.tree)
    print(f"tree: {ws.tree} base {git.out('rev-parse', tree.BASE_TAG)} HEAD {git.out('rev-parse', 'HEAD')}")
    problems = tree.unexported(ws)
    for problem in problems:
        print(f"unexported: {problem}")
    if not problems:
        print("exported: the tree matches patches/")
    return 0


def cmd_wheels(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.series.wheels import build_series_wheels

    built = build_series_wheels(ws, tree.ensure_tree(ws, pins), pins, _label(args, pins))
    if not built:
        say("the series touches no distribution: nothing to build")
    for b in built:
        print(b.wheel)
    return 0


def cmd_verify_base(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.series.wheels import verify_base

    rows = verify_base(ws, tree.ensure_tree(ws, pins), pins)
    print(f"{'distribution':36} {'rebuilt from base == PyPI wheel':32}")
    for row in rows:
        verdict = (
            "identical" if row.identical else f"DIFFERS ({row.rebuilt_sha256[:12]} vs {row.pypi_sha256[:12]})"
        )
        print(f"{row.dist.wheel_filename:60} {verdict}")
    bad = [r for r in rows if not r.identical]
    if bad:
        raise ForkError(f"{len(bad)} rebuilt wheel(s) differ from PyPI", "the base tree or the build changed")
    say("base-rebuild gate passed: every unpatched wheel is byte-identical to PyPI's")
    return 0


def cmd_python(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.series.env import ensure_env

    print(ensure_env(ws, pins, _label(args, pins), base=args.base, interpreter=_python(args)))
    return 0


def cmd_lock(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.series.env import lock

    checked = lock(ws, pins)
    say(f"wrote {ws.constraints.relative_to(ws.root)}; the pins resolve on Python {', '.join(checked)}")
    return 0


def cmd_run(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.series.env import ensure_env, run_in

    python = ensure_env(ws, pins, _label(args, pins), base=args.base, interpreter=_python(args))
    return run_in(python, args.argv)


def cmd_test(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.series.testing import run_tests

    return run_tests(ws, pins, _label(args, pins), args.pytest_args, args.python)


def cmd_demo(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.demo import run_demo

    return run_demo(ws, pins, _label(args, pins), args.executor, _python(args))


def cmd_bench_sftp(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.bench import sftp as bench_sftp

    if args.contenders:
        contenders = tuple(args.contenders.split(","))
    elif args.big:
        contenders = bench_sftp.BIG_CONTENDERS
    elif args.put:
        contenders = bench_sftp.PUT_CONTENDERS
    else:
        contenders = bench_sftp.DEFAULT_CONTENDERS
    opts = bench_sftp.Options(
        files=args.files,
        rounds=args.rounds,
        seed=args.seed,
        chart=Path(args.chart).resolve() if args.chart else None,
        contenders=contenders,
        mapped=args.mapped,
        subset=args.subset,
        big=args.big,
        big_mb=args.big_mb,
        medium_files=args.medium_files,
        medium_mb=args.medium_mb,
        load=args.load,
        profile=bool(args.profile),
        profiled=args.profile or bench_sftp.PROFILED,
    )
    return bench_sftp.run(ws, pins, _label(args, pins), opts, _python(args))


def cmd_bench_accessors(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.bench.accessors import accessors

    return accessors(ws, pins, _label(args, pins), args.reads, args.api_latency_ms, _python(args))


def cmd_bench_iterate(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.bench import iterate as bench_iterate

    items = [int(n) for n in args.items.split(",")]
    return bench_iterate.run(
        ws,
        pins,
        _label(args, pins),
        items,
        args.concurrency,
        args.expand_max,
        _python(args),
        args.progress_runs,
        checkpoints=args.checkpoints,
        chart=Path(args.chart).resolve() if args.chart else None,
    )


def cmd_bench_task_overhead(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.bench.task_overhead import task_overhead

    return task_overhead(ws, pins, _label(args, pins), args.runs, _python(args))


def cmd_check_series(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.series.series_check import check_series

    return check_series(
        ws, pins, _label(args, pins), _python(args), args.patch or None, run_tests=not args.no_tests
    )


def cmd_upstream_tests(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.series.upstream_suites import run_upstream_suites

    return run_upstream_suites(
        ws, pins, _label(args, pins), args.suite or None, _python(args), full_base=args.full_base
    )


def cmd_upstream_branch(ws: Workspace, pins: pins_mod.Pins, args: argparse.Namespace) -> int:
    from forktool.series.upstream_branch import apply_to_clone

    result = apply_to_clone(Path(args.clone).resolve(), args.branch, args.onto, tree.series(ws))
    for name in result.applied:
        print(f"applied        {name}")
    for name in result.needs_rebase:
        print(f"needs rebase   {name}")
    if result.needs_rebase:
        raise ForkError(
            f"{len(result.needs_rebase)} patch(es) need a manual rebase onto {args.onto}",
            f"branch {args.branch} has the others; apply the rest with `git am -3` and resolve",
        )
    say(f"branch {args.branch} in {args.clone} has all {len(result.applied)} patches")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says what to do."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "invalid choice" in message and "COMMAND" in message:
            message = f"unknown command {message.split(chr(39))[1]!r}"
        print(f"fork: error: {message} (run ./fork help for the commands)", file=sys.stderr)
        raise SystemExit(2)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fork", description="The AIP-98 Airflow fork, kept as a patch series.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, func: object, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=func)
        return sp

    def label_opt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--label", help="PEP 440 local label of the custom wheels (default from upstream.toml)"
        )

    def python_opt(sp: argparse.ArgumentParser, many: bool = False) -> None:
        supported = ", ".join(f"{v[0]}.{v[1]}" for v in interpreters.SUPPORTED)
        sp.add_argument(
            "--python",
            metavar="VERSION|PATH",
            action="append" if many else "store",
            help=f"the Python to build and use the environment on ({supported}; a version found as "
            "pythonX.Y on PATH or in pyenv, or an interpreter's path); default: the one running ./fork"
            + (
                "; for test, repeatable; default: integration tests on "
                f"{' and '.join(interpreters.TEST_MATRIX)}, upstream suites on "
                f"{' and '.join(interpreters.UPSTREAM_SUITES_MATRIX)}"
                if many
                else ""
            ),
        )

    sp = add(
        "materialize", cmd_materialize, "create the upstream tree (./airflow): base commit plus the series"
    )
    sp.add_argument(
        "--force", action="store_true", help="rebuild an existing tree (refused if it has unexported work)"
    )
    sp.add_argument("--base-only", action="store_true", help="stop at the base commit")
    sp = add("apply", cmd_apply, "reset the tree to the base and apply patches/ again")
    sp.add_argument("--force", action="store_true", help="drop unexported work in the tree")
    sp = add("export", cmd_export, "write the tree's commits to patches/ (byte-stable)")
    sp.add_argument(
        "--check",
        action="store_true",
        help="write nothing; fail if re-exporting the freshly applied series would change patches/",
    )
    add("status", cmd_status, "show the pins, the series and whether the tree is exported")
    label_opt(add("wheels", cmd_wheels, "build custom wheels of the distributions the series touches"))
    add("verify-base", cmd_verify_base, "prove that the unpatched base rebuilds into PyPI's exact wheels")
    for name, func, help in (
        ("python", cmd_python, "print the patched environment's interpreter path (building it if needed)"),
        ("run", cmd_run, "run a command inside the patched environment"),
    ):
        sp = add(name, func, help)
        label_opt(sp)
        python_opt(sp)
        sp.add_argument("--base", action="store_true", help="the unpatched upstream environment instead")
        if name == "run":
            sp.add_argument("argv", nargs=argparse.REMAINDER, help="the command")
    add("lock", cmd_lock, "re-resolve and pin the environments' third-party packages")
    sp = add("test", cmd_test, "run all tests: the tool's, the series', the fork's integration tests")
    label_opt(sp)
    python_opt(sp, many=True)
    sp.add_argument("pytest_args", nargs=argparse.REMAINDER, help="extra pytest arguments (e.g. -k name)")
    sp = add("demo", cmd_demo, "build the patched Airflow, run the demo DAGs (SQLite, or --executor celery)")
    label_opt(sp)
    sp.add_argument(
        "--executor",
        choices=("local", "celery"),
        default="local",
        help="local: `airflow dags test`; celery: scheduler and a Celery worker on a loopback Redis",
    )
    python_opt(sp)
    sp = add(
        "upstream-tests", cmd_upstream_tests, "run upstream's test suites on the base and the patched build"
    )
    sp.add_argument(
        "suite", nargs="*", help="task-sdk, standard, sftp, ssh (default: those the series touches)"
    )
    sp.add_argument(
        "--full-base",
        action="store_true",
        help="run each whole suite on the base too (default: only the test files the comparison needs,"
        " with devel-common/known-failures.txt for the rest); also checks that list",
    )
    label_opt(sp)
    python_opt(sp)
    sp = add(
        "check-series",
        cmd_check_series,
        "apply the series patch by patch; each must import its modules and pass its own tests",
    )
    sp.add_argument("patch", nargs="*", help="check only the patches whose file names start with these")
    sp.add_argument(
        "--no-tests", action="store_true", help="only the imports (what CI runs: about two minutes)"
    )
    label_opt(sp)
    python_opt(sp)
    help = "benchmarks, fork vs unpatched base side by side in one run"
    sp = sub.add_parser("bench", help=help, description=help)  # each benchmark sets its own func
    benches = sp.add_subparsers(dest="name", metavar="NAME", parser_class=_Parser, required=True)

    def bench(name: str, func: object, help: str) -> argparse.ArgumentParser:
        bp = benches.add_parser(name, help=help, description=help)
        bp.set_defaults(func=func)
        label_opt(bp)
        python_opt(bp)
        return bp

    bp = bench("task-overhead", cmd_bench_task_overhead, "async vs sync no-op task")
    bp.add_argument("--runs", type=int, default=5, help="measured rounds (median is printed)")
    bp = bench("accessors", cmd_bench_accessors, "awaited XCom/Variable reads")
    bp.add_argument("--reads", type=int, default=10_000, help="reads per workload")
    bp.add_argument(
        "--api-latency-ms",
        type=float,
        default=0,
        help="latency added to every request to the execution API (a remote API server)",
    )
    bp = bench("sftp", cmd_bench_sftp, "bulk SFTP downloads vs OpenSSH's sftp")
    bp.add_argument("--files", type=int, default=17000, help="files in the seeded data set")
    bp.add_argument(
        "--put", action="store_true", help="uploads of the tree (put_directory, SFTPBulkOperator, put -r)"
    )
    bp.add_argument(
        "--big", action="store_true", help="big files, get and put (--big-mb, --medium-files x --medium-mb)"
    )
    bp.add_argument("--big-mb", type=int, default=1024, help="--big: size of the single big file (MB)")
    bp.add_argument("--medium-files", type=int, default=10, help="--big: number of medium files")
    bp.add_argument("--medium-mb", type=int, default=100, help="--big: size of each medium file (MB)")
    bp.add_argument("--load", action="store_true", help="run idle, then again with a CPU hog on one core")
    bp.add_argument(
        "--profile",
        nargs="?",
        const="fork-pool-1",
        help="profile one contender (default fork-pool-1) once more; print where its client CPU goes",
    )
    bp.add_argument("--rounds", type=int, default=2, help="rounds, order alternating (best is shown)")
    bp.add_argument("--seed", type=int, default=98, help="seed of the data set")
    bp.add_argument("--chart", help="PNG to write (default .fork/bench/sftp.png; JSON beside it)")
    bp.add_argument(
        "--contenders",
        help="comma-separated subset of openssh, base-sync, base-sync-reconnect, base-pool, "
        "fork-pool-1, fork-pool-2, fork-files-2 (default: all but fork-files-2)",
    )
    bp.add_argument(
        "--subset",
        type=int,
        default=200,
        metavar="N",
        help="files of base-sync-reconnect (one SSH connection per file), the first N sorted (default 200)",
    )
    bp.add_argument(
        "--mapped",
        type=int,
        default=100,
        metavar="N",
        help="mapped SFTPOperator over the first N files, one task instance each, upstream base and "
        "fork (default 100; 0: off)",
    )
    bp = bench(
        "iterate",
        cmd_bench_iterate,
        ".iterate() vs .expand() vs hand-written asyncio.gather and ThreadPoolExecutor.map",
    )
    bp.add_argument("--items", default="1000,100000", help="comma-separated item counts")
    bp.add_argument(
        "--concurrency", type=int, default=16, help="items at once (iterate, gather, thread pool)"
    )
    bp.add_argument("--expand-max", type=int, default=250, help="most items .expand() runs over")
    bp.add_argument(
        "--progress-runs", type=int, default=3, help="runs with progress publishing on and off (0: none)"
    )
    bp.add_argument(
        "--no-checkpoints",
        dest="checkpoints",
        action="store_false",
        help="skip the checkpoint writes and resume measurement (quick runs)",
    )
    bp.add_argument("--chart", help="PNG to write (default .fork/bench/iterate.png; JSON beside it)")
    sp = add(
        "upstream-branch", cmd_upstream_branch, "apply the series to your apache/airflow clone as a branch"
    )
    sp.add_argument("clone", help="path of your apache/airflow clone")
    sp.add_argument("--branch", default="aip98", help="branch to create (default aip98)")
    sp.add_argument("--onto", default="HEAD", help="commit to branch from (default HEAD)")
    sub.add_parser("help", help="show this help")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("help", "-h", "--help"):
        p.print_help()
        return 0
    try:
        args = p.parse_args(argv)
    except SystemExit as exit:
        return int(exit.code or 0)
    ws = Workspace.find()
    try:
        return int(args.func(ws, pins_mod.load(ws.pins_file), args))
    except ForkError as err:
        print(f"fork: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fork: interrupted", file=sys.stderr)
        return 130
