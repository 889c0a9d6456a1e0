"""./fork test: the series' export check, the tool's tests, upstream's suites (base vs patched,
including the tests the series adds or changes), and the fork's integration tests."""

from __future__ import annotations

import subprocess

from forktool.env import ensure_env, env_vars
from forktool.pins import Pins
from forktool.progress import say
from forktool.tree import stale_exports
from forktool.upstream_suites import run_upstream_suites
from forktool.workspace import Workspace


def run_tests(ws: Workspace, pins: Pins, label: str, extra: list[str]) -> int:
    python = ensure_env(ws, pins, label)
    env = env_vars(python)
    env.update(PYTHONPATH=str(ws.root / "tool" / "src"), FORK_ROOT=str(ws.root))
    pytest = [
        str(python),
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        *extra,
    ]
    outcome: list[tuple[str, int]] = []

    say("== series: export --check ==")
    stale = stale_exports(ws, pins)
    if stale:
        say(f"re-exporting the series changes: {', '.join(stale)} (run ./fork apply, ./fork export)")
    outcome.append(("export check", 1 if stale else 0))
    say("== tool tests ==")
    outcome.append(("tool", subprocess.run([*pytest, "tool/tests"], cwd=ws.root, env=env).returncode))
    say("== upstream suites: base vs patched ==")
    outcome.append(("upstream suites", run_upstream_suites(ws, pins, label)))
    say("== fork integration tests ==")
    outcome.append(("fork integration", subprocess.run([*pytest, "tests"], cwd=ws.root, env=env).returncode))

    say(
        "summary: "
        + ", ".join(f"{name}: {'ok' if code == 0 else f'FAILED ({code})'}" for name, code in outcome)
    )
    return 0 if all(code == 0 for _, code in outcome) else 1
