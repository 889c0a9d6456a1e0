"""./fork check-series: each patch, applied on top of its predecessors, imports and passes its own tests.

An upstream reviewer merges the series one pull request at a time, so every prefix of it must work, not only
the whole. For each patch of patches/series, in order, the check applies it with ``git am`` in a scratch
worktree of the base (``.fork/series-check``) and then:

1. imports every module of a distribution's ``src/`` that the patch adds or changes, in the patched
   environment with the worktree's sources first on ``PYTHONPATH`` (a name taken from a later patch fails
   here);
2. unless ``--no-tests``: runs the upstream test files the patch adds or changes, the same way
   ``./fork upstream-tests`` runs its suites; a failing test that devel-common/known-failures.txt does not
   list fails the check.

Wheels are not built per patch: the sources are imported in place, over the environment of the whole series
(its third-party packages and entry points). Test files of airflow-core are not run (the fork runs no core
suite); the check says so.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from forktool.errors import ForkError
from forktool.interpreters import Interpreter
from forktool.progress import say
from forktool.series.env import ensure_env, env_vars
from forktool.series.git import Git
from forktool.series.pins import Pins
from forktool.series.tree import apply_series, ensure_tree, series
from forktool.series.upstream_suites import (
    SUITES,
    Suite,
    fresh_base_worktree,
    known_failures,
    run_suite,
    start_sshd_22,
)
from forktool.stack.sshd import Sshd
from forktool.workspace import Workspace

TEST_FILE = re.compile(r"(?:^|/)tests/(?:.*/)?test_[^/]*\.py$")

#: Imports each module named on the command line; prints one line per failure, exits 1 if any failed.
IMPORT_PROGRAM = """
import importlib, sys, traceback
failed = 0
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed += 1
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        print(f"{name}: {last}")
sys.exit(1 if failed else 0)
"""


@dataclass
class PatchCheck:
    """What checking one patch found."""

    patch: str
    modules: int = 0
    import_errors: list[str] = field(default_factory=list)
    tests: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.import_errors and not self.failures


def module_name(path: str, src_roots: list[str]) -> str | None:
    """The importable module of a changed path under one of the dists' src/ folders, or None."""
    if not path.endswith(".py"):
        return None
    for root in src_roots:
        if path.startswith(root + "/"):
            parts = path[len(root) + 1 : -3].split("/")
            if parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join(parts) if parts else None
    return None


def suite_of(path: str) -> Suite | None:
    return next((s for s in SUITES if path.startswith(s.folder + "/tests/")), None)


def check_series(
    ws: Workspace,
    pins: Pins,
    label: str,
    interpreter: Interpreter | None = None,
    only: list[str] | None = None,
    run_tests: bool = True,
) -> int:
    git = ensure_tree(ws, pins)
    patches = series(ws)
    if not patches:
        say("patches/series is empty: nothing to check")
        return 0
    selected = [p for p in patches if not only or any(p.name.startswith(o) for o in only)]
    if only and not selected:
        raise ForkError(f"no patch of the series starts with {', '.join(only)}", "see patches/series")
    python = ensure_env(ws, pins, label, interpreter=interpreter)
    work = fresh_base_worktree(git, ws.state / "series-check")
    wgit = Git(work)
    src_roots = [f"{d.folder}/src" for d in pins.dists]
    pythonpath = [work / root for root in src_roots if (work / root).is_dir()]
    known = known_failures(ws)
    sshd: Sshd | None = None
    results: list[PatchCheck] = []
    try:
        for index, patch in enumerate(patches, 1):
            apply_series(wgit, [patch])
            if patch not in selected:
                continue
            changed = wgit.out("diff", "--name-only", "HEAD~1", "HEAD").splitlines()
            present = [p for p in changed if (work / p).exists()]
            result = PatchCheck(patch.name)
            modules = sorted({m for p in present if (m := module_name(p, src_roots))})
            result.modules = len(modules)
            if modules:
                result.import_errors = import_errors(ws, python, pythonpath, modules)
            tests = [p for p in present if TEST_FILE.search(p)]
            if run_tests and tests:
                by_suite: dict[str, list[str]] = {}
                for path in tests:
                    suite = suite_of(path)
                    if suite is None:
                        result.notes.append(f"{path}: no suite runs it here")
                        continue
                    by_suite.setdefault(suite.name, []).append(path[len(suite.folder) + 1 :])
                for name, files in by_suite.items():
                    suite = next(s for s in SUITES if s.name == name)
                    if suite.needs_sshd and sshd is None:
                        sshd = start_sshd_22(
                            ws,
                            f"the tests of {patch.name} need an sshd on 127.0.0.1:22",
                            "run as root (as CI does), or --no-tests",
                        )
                    outcomes = run_suite(
                        ws,
                        suite,
                        f"series-check/{index:04d}",
                        work,
                        python,
                        sshd if suite.needs_sshd else None,
                        files,
                        pythonpath,
                        workers=len(files) > 1,  # several files: the suite's xdist workers share them
                    )
                    result.tests += sum(1 for o in outcomes.by_test.values() if o != "collection-error")
                    result.failures += sorted(
                        f"{name}: {t} ({outcomes.by_test[t]})" for t in outcomes.failing() - set(known)
                    )
            say(
                f"{patch.name}: {'ok' if result.ok else 'FAILED'} ({result.modules} module(s) imported"
                + (f", {result.tests} test(s) run" if run_tests else "")
                + ")"
            )
            results.append(result)
    finally:
        if sshd:
            sshd.stop()
    return report(results, run_tests)


def import_errors(ws: Workspace, python: Path, pythonpath: list[Path], modules: list[str]) -> list[str]:
    env = env_vars(python)
    env.update(
        AIRFLOW_HOME=str(ws.state / "series-check-home"),
        PYTHONPATH=os.pathsep.join(str(p) for p in pythonpath),
    )
    proc = subprocess.run(
        [str(python), "-c", IMPORT_PROGRAM, *modules], env=env, capture_output=True, text=True
    )
    return proc.stdout.splitlines() if proc.returncode else []


def report(results: list[PatchCheck], run_tests: bool) -> int:
    broken = [r for r in results if not r.ok]
    for r in results:
        for line in r.notes:
            print(f"note: {r.patch}: {line}")
        for line in r.import_errors:
            print(f"  IMPORT {r.patch}: {line}")
        for line in r.failures:
            print(f"  FAILED {r.patch}: {line}")
    what = "imports its modules and passes its own tests" if run_tests else "imports its modules"
    good = len(results) - len(broken)
    print(f"\n{good} of {len(results)} patch(es), each applied on its predecessors, {what}")
    sys.stdout.flush()
    return 1 if broken else 0
