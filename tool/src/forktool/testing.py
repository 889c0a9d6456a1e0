"""./fork test: the tool's tests, the tests the series adds, and the fork's integration tests."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from forktool.env import ensure_env, env_vars
from forktool.git import Git
from forktool.pins import Pins
from forktool.progress import say
from forktool.tree import ensure_tree, touched_paths
from forktool.workspace import Workspace

_TEST_FILE = re.compile(r"(^|/)tests/.*(^|/)test_[^/]*\.py$")
NO_TESTS_COLLECTED = 5


@dataclass(frozen=True)
class Suite:
    name: str
    argv: list[str]
    cwd: Path


def series_test_files(git: Git, pins: Pins) -> dict[str, list[str]]:
    """Test files the series adds or changes, grouped by the folder of their distribution."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for path in touched_paths(git):
        if not _TEST_FILE.search(path) or not (git.repo / path).exists():
            continue
        for dist in pins.dists:
            if dist.owns(path):
                grouped[dist.folder].append(path[len(dist.folder) + 1 :])
    return dict(grouped)


def suites(ws: Workspace, pins: Pins, python: Path, extra: list[str]) -> list[Suite]:
    pytest = [str(python), "-m", "pytest", "-p", "no:cacheprovider", *extra]
    result = [Suite("tool", [*pytest, "tool/tests"], ws.root)]
    git = ensure_tree(ws, pins)
    for folder, files in sorted(series_test_files(git, pins).items()):
        result.append(Suite(f"series: {folder}", [*pytest, *files], ws.tree / folder))
    result.append(Suite("fork integration", [*pytest, "tests"], ws.root))
    return result


def run_tests(ws: Workspace, pins: Pins, label: str, extra: list[str]) -> int:
    python = ensure_env(ws, pins, label)
    env = env_vars(python)
    env["PYTHONPATH"] = str(ws.root / "tool" / "src")
    env["FORK_ROOT"] = str(ws.root)
    env["FORK_LABEL"] = label
    outcome: list[tuple[str, int]] = []
    for suite in suites(ws, pins, python, extra):
        say(f"== {suite.name} tests ==")
        code = subprocess.run(suite.argv, cwd=suite.cwd, env=env).returncode
        outcome.append((suite.name, 0 if code == NO_TESTS_COLLECTED and extra else code))
    say(
        "summary: "
        + ", ".join(f"{name}: {'ok' if code == 0 else f'FAILED ({code})'}" for name, code in outcome)
    )
    return 0 if all(code == 0 for _, code in outcome) else 1
