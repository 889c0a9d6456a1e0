"""Upstream's own test suites, run against the unpatched base and the patched build in one run.

Each suite runs from its distribution's folder of a tree (the base commit's worktree for the base, the
materialized tree for the patched build) in that tree's environment, with the fork's tests_common
(devel-common/) and per-test timeouts. Outcomes are compared test by test: the patched build may not
fail a test that passes on the base, and the tests the series adds must pass.

The base is pinned, so which of its tests fail is known (devel-common/known-failures.txt, which
``--full-base`` checks). By default the patched build runs the whole suite and the base runs only the
test files where that comparison needs an answer: each file holding a test that fails patched (and again
when rerun) without being a known base failure, or a known base failure that passes patched. This halves
the suites' time in CI; ``--full-base`` runs the whole suite on both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from forktool.errors import ForkError
from forktool.interpreters import Interpreter
from forktool.progress import say
from forktool.series.env import ensure_env, env_vars
from forktool.series.git import Git
from forktool.series.pins import Pins
from forktool.series.tree import BASE_TAG, ensure_tree
from forktool.series.wheels import touched_dists
from forktool.stack.sshd import Sshd
from forktool.workspace import Workspace

COMMON_ARGS = [
    "-p",
    "no:cacheprovider",
    "-p",
    "forktool.series.pytest_outcomes",
    "--timeout=60",
    "--continue-on-collection-errors",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
    "-q",
    "--no-header",
    "-p",
    "no:randomly",
]
PROVIDER_ARGS = ["--asyncio-mode=strict", "-p", "no:legacypath", "--disable-warnings"]


@dataclass(frozen=True)
class Suite:
    name: str
    folder: str
    args: tuple[str, ...]
    needs_sshd: bool = False


SUITES = (
    # task-sdk's pyproject addopts are replaced: they ask for plugins this environment does not have.
    Suite(
        "task-sdk",
        "task-sdk",
        ("-o", "addopts=--asyncio-mode=strict -p no:legacypath --disable-warnings", "-n", "2"),
    ),
    # Two xdist workers, each with a metadata DB of its own (devel-common's tests_common): the suite's
    # virtualenv and external-Python tests keep one core busy for minutes.
    Suite("standard", "providers/standard", (*PROVIDER_ARGS, "-n", "2")),
    Suite("sftp", "providers/sftp", tuple(PROVIDER_ARGS), needs_sshd=True),
    Suite("ssh", "providers/ssh", tuple(PROVIDER_ARGS), needs_sshd=True),
)


@dataclass
class Outcomes:
    """Each test's outcome: passed, failed, error, skipped, gated (skipped by the suite's own skip/skipif
    mark: it does not apply to this Airflow or environment) or collection-error; and why it was skipped."""

    by_test: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.by_test.values() if o == outcome)

    @property
    def collected(self) -> int:
        return sum(1 for o in self.by_test.values() if o != "collection-error")

    @property
    def applicable(self) -> int:
        """Collected tests that the suite does not itself gate off for this environment."""
        return self.collected - self.count("gated")

    @property
    def pass_rate(self) -> float:
        return 100 * self.count("passed") / self.applicable if self.applicable else 0.0

    def skip_reasons(self, outcome: str) -> list[tuple[int, str]]:
        """(count, reason) of the tests with this outcome, most frequent first."""
        counts: dict[str, int] = {}
        for test, o in self.by_test.items():
            if o == outcome:
                reason = self.reasons.get(test, "")
                counts[reason] = counts.get(reason, 0) + 1
        return sorted(((n, r) for r, n in counts.items()), key=lambda c: (-c[0], c[1]))

    def failing(self) -> set[str]:
        return {t for t, o in self.by_test.items() if o in ("failed", "error", "collection-error")}


def known_failures(ws: Workspace) -> dict[str, str]:
    known = {}
    if ws.known_failures.exists():
        for line in ws.known_failures.read_text().splitlines():
            nodeid, _, reason = line.partition("  # ")
            if nodeid.strip() and not nodeid.startswith("#"):
                known[nodeid.strip()] = reason.strip()
    return known


def base_worktree(ws: Workspace, git: Git) -> Path:
    path = ws.state / "base-tree"
    base = git.out("rev-parse", BASE_TAG)
    if path.exists() and (path / ".git").exists() and Git(path).out("rev-parse", "HEAD") == base:
        return path
    return fresh_base_worktree(git, path)


def fresh_base_worktree(git: Git, path: Path) -> Path:
    """A new detached worktree of the base commit at `path` (whatever was there is removed)."""
    git.run("worktree", "prune")
    if path.exists():
        git.run("worktree", "remove", "--force", str(path), check=False)
    git.run("worktree", "add", "--detach", "--force", str(path), BASE_TAG)
    return path


def start_sshd_22(ws: Workspace, problem: str, hint: str) -> Sshd:
    """The sshd on 127.0.0.1:22 that the sftp and ssh suites expect (their tests hard-code the port)."""
    if os.geteuid() != 0:
        raise ForkError(problem, hint)
    return Sshd(ws.state / "sshd-22", 22, "root").start()


def selected_suites(git: Git, pins: Pins, names: list[str] | None) -> list[Suite]:
    if names:
        unknown = set(names) - {s.name for s in SUITES}
        if unknown:
            raise ForkError(
                f"unknown suite(s) {', '.join(sorted(unknown))}",
                f"known: {', '.join(s.name for s in SUITES)}",
            )
        return [s for s in SUITES if s.name in names]
    folders = {d.folder for d in touched_dists(git, pins)}
    return [s for s in SUITES if s.folder in folders]


def run_suite(
    ws: Workspace,
    suite: Suite,
    variant: str,
    tree: Path,
    python: Path,
    sshd: Sshd | None,
    only: list[str] | None = None,
    sources: list[Path] | None = None,
    workers: bool = False,
) -> Outcomes:
    """Run the suite (or `only` these test ids, in one process unless `workers`: the suite's xdist
    workers, if it has any) and read every test's outcome.

    `sources`: folders put first on PYTHONPATH, so that their modules are imported instead of the
    environment's (./fork check-series runs each patch's sources over the environment of the series)."""
    out_dir = ws.state / "upstream-tests" / variant
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{suite.name}-rerun" if only else suite.name
    outcomes_file, log = out_dir / f"{name}.jsonl", out_dir / f"{name}.log"
    outcomes_file.unlink(missing_ok=True)
    home = out_dir / f"airflow-home-{suite.name}"
    if not only:  # a fresh metadata database: state left by an earlier run (e.g. deleted default
        shutil.rmtree(home, ignore_errors=True)  # connections) must not change this run's outcomes
    env = env_vars(python)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW_SOURCES=str(tree),
        DEFAULT_BRANCH="fork",  # upstream's main-branch-only tests need monorepo files the sdists lack
        FORK_OUTCOMES=str(outcomes_file),
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(ws.root / "tool" / "src"), *map(str, sources or []), env.get("PYTHONPATH")])
        ),
    )
    if sshd:
        env["HOME"] = str(sshd.user_home())
    what = f"rerun of {len(only)} test(s)" if only else "suite"
    say(f"{variant}: {suite.name} {what} (log: {log})")
    args = [*only] if only else ["tests"]
    options = without_workers(suite.args) if only and not workers else list(suite.args)
    with log.open("w") as out:
        subprocess.run(
            [str(python), "-m", "pytest", *args, *COMMON_ARGS, *options],
            cwd=tree / suite.folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if not outcomes_file.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise ForkError(f"the {variant} {suite.name} suite did not run: {' | '.join(tail)}", f"see {log}")
    result = Outcomes()
    for line in outcomes_file.read_text().splitlines():
        record = json.loads(line)
        result.by_test[record["nodeid"]] = record["outcome"]
        if "reason" in record:
            result.reasons[record["nodeid"]] = record["reason"]
    return result


def without_workers(args: tuple[str, ...]) -> list[str]:
    """`args` without pytest-xdist's ``-n N``: one process."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "-n":
            skip = True
        else:
            kept.append(arg)
    return kept


@dataclass
class SuiteResult:
    """A suite's outcomes on the patched build and what is known of the base: its whole run
    (``--full-base``), or the runs of the test files the comparison needed."""

    patched: Outcomes
    base: Outcomes
    full_base: bool

    def base_failing(self, known: dict[str, str]) -> set[str]:
        """The tests that fail on the base: what it ran and, where it did not run, the known failures."""
        if self.full_base:
            return self.base.failing()
        return self.base.failing() | (set(known) - set(self.base.by_test))

    def regressions(self, known: dict[str, str]) -> set[str]:
        """Tests that fail (or error) on the patched build and either pass on the base or are new: tests
        the series adds must pass too."""
        return self.patched.failing() - self.base_failing(known)


def run_upstream_suites(
    ws: Workspace,
    pins: Pins,
    label: str,
    names: list[str] | None = None,
    interpreter: Interpreter | None = None,
    full_base: bool = False,
) -> int:
    git = ensure_tree(ws, pins)
    suites = selected_suites(git, pins, names)
    if not suites:
        say("the series touches no distribution with an upstream suite: nothing to run")
        return 0
    # The base's worktree and environment are made when the base first runs (without --full-base it
    # often does not run at all).
    trees = {"patched": ws.tree}
    pythons = {"patched": ensure_env(ws, pins, label, interpreter=interpreter)}

    def prepare(variant: str) -> Path:
        if variant not in trees:
            trees[variant] = base_worktree(ws, git)
            pythons[variant] = ensure_env(ws, pins, label, base=True, interpreter=interpreter)
        return trees[variant]

    sshd = None
    if any(s.needs_sshd for s in suites):
        sshd = start_sshd_22(
            ws, "the sftp and ssh suites need an sshd on 127.0.0.1:22", "run as root (as CI does)"
        )
    known = known_failures(ws)
    results: dict[str, SuiteResult] = {}
    flaky: list[str] = []

    def run(suite: Suite, variant: str, only: list[str] | None = None) -> Outcomes:
        server = sshd if suite.needs_sshd else None
        return run_suite(ws, suite, variant, prepare(variant), pythons[variant], server, only)

    try:
        for suite in suites:
            patched = run(suite, "patched")
            base = run(suite, "base") if full_base else Outcomes()
            expected = base.failing() if full_base else set(known)
            suspects = sorted(patched.failing() - expected)
            if suspects:
                # A test that fails once on the patched build but passes when run again is flaky,
                # not broken by the series: it is reported, and the run goes on.
                again = run(suite, "patched", suspects)
                for test in suspects:
                    if again.by_test.get(test) == "passed":
                        patched.by_test[test] = "passed"
                        flaky.append(f"{suite.name}: {test}")
            if not full_base:
                passing = {t for t, o in patched.by_test.items() if o == "passed"}
                ask = (patched.failing() - expected) | (set(known) & passing)
                files = (
                    sorted({t.split("::")[0] for t in ask} & existing_files(prepare("base"), suite))
                    if ask
                    else []
                )
                if files:
                    base = run(suite, "base", files)
            results[suite.name] = SuiteResult(patched, base, full_base)
    finally:
        if sshd:
            sshd.stop()
    for test in flaky:
        print(f"flaky: {test} failed on the patched build, then passed when run again")
    return report(results, known)


def existing_files(tree: Path, suite: Suite) -> set[str]:
    """The suite's test files (relative to its folder, as in node ids) that exist in `tree`."""
    folder = tree / suite.folder
    return {str(p.relative_to(folder)) for p in (folder / "tests").rglob("*.py")}


def report(results: dict[str, SuiteResult], known: dict[str, str]) -> int:
    columns = ("collected", "gated", "passed", "failed", "errors", "skipped")
    print(f"\n{'suite':10} {'tree':8} " + " ".join(f"{c:>9}" for c in columns) + f" {'pass %':>7}")
    broken: list[str] = []
    for name, result in results.items():
        variants = {"base": result.base} if result.full_base else {}
        variants["patched"] = result.patched
        for variant, o in variants.items():
            errors = o.count("error") + o.count("collection-error")
            counts = (
                o.collected,
                o.count("gated"),
                o.count("passed"),
                o.count("failed"),
                errors,
                o.count("skipped"),
            )
            print(f"{name:10} {variant:8} " + " ".join(f"{c:>9}" for c in counts) + f" {o.pass_rate:>6.1f}%")
        base, patched = result.base, result.patched
        if result.full_base:
            for n, reason in base.skip_reasons("skipped"):
                print(f"note: {name}: {n} test(s) skipped on the base: {reason}")
        else:
            files = len({t.split("::")[0] for t in base.by_test})
            print(
                f"note: {name}: the base ran {files} test file(s) the comparison needed; its other"
                " failures are devel-common/known-failures.txt (--full-base runs the whole suite)"
            )
        broken += sorted(f"{name}: {t} ({patched.by_test[t]})" for t in result.regressions(known))
        for test in sorted(base.failing() - set(known)):
            print(f"note: {name}: {test} fails on the base but is not in devel-common/known-failures.txt")
        for test in sorted(t for t in known if base.by_test.get(t) == "passed"):
            print(
                f"note: {name}: {test} passed on the base in this run although"
                " devel-common/known-failures.txt lists it: remove it if it is stale"
            )
        fixed = sorted(set(known) & base.failing() & {t for t, o in patched.by_test.items() if o == "passed"})
        for test in fixed:
            print(f"fixed by the series: {name}: {test}")
    print(
        "gated: skipped by the suite's own skip/skipif mark (not for this Airflow or environment);"
        " pass % = passed / (collected - gated)"
    )
    print(f"\n{len(broken)} test(s) fail on the patched build that pass on the base or are new")
    for line in broken:
        print(f"  REGRESSION {line}")
    return 1 if broken else 0
