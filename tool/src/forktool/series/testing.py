"""./fork test: the series' export check, the tool's tests, the imports of each patch on its
predecessors, upstream's suites (base vs patched, including the tests the series adds or changes), and
the fork's integration tests, on each Python version of the test matrix."""

from __future__ import annotations

import subprocess
import time

from forktool.errors import ForkError
from forktool.interpreters import SUPPORTED, TEST_MATRIX, UPSTREAM_SUITES_MATRIX, Interpreter, find, resolve
from forktool.progress import say
from forktool.series.env import ensure_env, env_vars
from forktool.series.pins import Pins
from forktool.series.series_check import check_series
from forktool.series.tree import stale_exports
from forktool.series.upstream_suites import run_upstream_suites
from forktool.workspace import Workspace

#: Upstream unit tests of the parts of the series whose code paths depend on the Python version: the task
#: event loop and its blocking-call detector (0001-0004), the SIGUSR2 task-tree dump and its
#: asyncio.capture_call_graph gate (0015). Run on every supported Python installed here (or on each
#: --python), so each version's path runs where its interpreter exists and shows its skip reason elsewhere.
VERSION_SENSITIVE = (
    "task-sdk",
    (
        "tests/task_sdk/execution_time/test_event_loop.py",
        "tests/task_sdk/execution_time/test_introspection.py",
    ),
)


#: Integration tests that CI's matrix runs on its first Python only. tests/celery drives the same task
#: runner, supervisor and fork code as the LocalExecutor tests beside it (which do run on every version of
#: the matrix); what it adds is the executor's process tree (Redis, prefork pool, warm shutdown), which does
#: not depend on the interpreter's version, and it costs about as long as all other integration tests
#: together. tests/test_task_progress_view.py drives the Progress plugin's React bundle and FastAPI routes
#: in a browser (about 3 minutes); the task side it shows, progress publishing, runs on every version in
#: tests/test_iterate_progress_api.py. The demo DAGs' tests (what `./fork demo` runs, on the default Python)
#: are made of parts that the other tests run on every version (about a minute). `./fork test --python X`
#: runs everything on X.
FIRST_VERSION_ONLY = (
    "tests/celery",
    "tests/test_task_progress_view.py",
    "tests/test_demo_dag.py",
    "tests/sftp/test_sftp_demo_dag.py",
)


PLAIN_PYTEST = ["-m", "pytest", "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function"]


def matrix(pythons: list[str] | None) -> tuple[list[Interpreter], list[Interpreter]]:
    """(interpreters of the integration tests, interpreters of upstream's suites).

    --python given (once or more): everything on each of them. Else CI's matrix: the integration
    tests on TEST_MATRIX, upstream's suites on UPSTREAM_SUITES_MATRIX. Every interpreter is found
    before anything runs, so a missing one fails at once, not after the suites.
    """
    if pythons:
        chosen = list({i.minor: i for i in map(resolve, pythons)}.values())
        return chosen, chosen
    found: dict[str, Interpreter] = {}
    for version in dict.fromkeys([*TEST_MATRIX, *UPSTREAM_SUITES_MATRIX]):
        try:
            found[version] = resolve(version)
        except ForkError as err:
            raise ForkError(
                f"./fork test runs the integration tests on Python {' and '.join(TEST_MATRIX)}: "
                + err.problem,
                f"{err.hint}; or test one version: ./fork test --python X.Y",
            ) from None
    return [found[v] for v in TEST_MATRIX], [found[v] for v in UPSTREAM_SUITES_MATRIX]


def run_version_sensitive(ws: Workspace, pins: Pins, label: str, interpreter: Interpreter) -> int:
    """VERSION_SENSITIVE's tests in the patched environment on `interpreter`; pytest's exit code."""
    folder, tests = VERSION_SENSITIVE
    python = ensure_env(ws, pins, label, interpreter=interpreter)
    env = env_vars(python)
    env.update(PYTHONPATH=str(ws.root / "tool" / "src"), AIRFLOW_HOME=str(ws.state / "airflow-home-unit"))
    say(f"== version-sensitive unit tests ({folder}): {interpreter} ==")
    options = ["-o", "addopts=--asyncio-mode=strict -p no:legacypath --disable-warnings", "-rs", "-q"]
    return subprocess.run(
        [str(python), *PLAIN_PYTEST, *options, *tests], cwd=ws.tree / folder, env=env
    ).returncode


def unit_test_versions(
    pythons: list[str] | None, integration: list[Interpreter], upstream: list[Interpreter]
) -> list[str]:
    """Where VERSION_SENSITIVE runs on its own: each supported version (each --python), except those
    whose upstream suites run anyway (they include these tests)."""
    versions = [i.minor for i in integration] if pythons else [f"{a}.{b}" for a, b in SUPPORTED]
    return [v for v in versions if v not in {i.minor for i in upstream}]


def run_tests(
    ws: Workspace, pins: Pins, label: str, extra: list[str], pythons: list[str] | None = None
) -> int:
    integration, upstream = matrix(pythons)
    pytest = [*PLAIN_PYTEST, *extra]
    outcome: list[tuple[str, int | None, float]] = []  # (stage, exit code or None: not run, seconds)

    def command(interpreter: Interpreter, paths: str, *args: str) -> tuple[list[str], dict[str, str]]:
        python = ensure_env(ws, pins, label, interpreter=interpreter)
        env = env_vars(python)
        env.update(PYTHONPATH=str(ws.root / "tool" / "src"), FORK_ROOT=str(ws.root))
        return [str(python), *pytest, *args, paths], env

    def stage(name: str, interpreter: Interpreter, paths: str, *args: str) -> None:
        argv, env = command(interpreter, paths, *args)
        say(f"== {name}: {interpreter} ==")
        start = time.monotonic()
        code = subprocess.run(argv, cwd=ws.root, env=env).returncode
        outcome.append((f"{name} (Python {interpreter.minor})", code, time.monotonic() - start))

    say("== series: export --check ==")
    start = time.monotonic()
    stale = stale_exports(ws, pins)
    if stale:
        say(f"re-exporting the series changes: {', '.join(stale)} (run ./fork apply, ./fork export)")
    outcome.append(("export check", 1 if stale else 0, time.monotonic() - start))
    # The tool's tests and the imports of each patch on its predecessors (each patch's own tests:
    # `./fork check-series`) keep one core busy each: they run side by side, the tool's tests' output
    # is printed when both are done.
    argv, env = command(integration[0], "tool/tests")
    log = ws.state / "tool-tests.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"== tool tests: {integration[0]}, beside the series check (log: {log}) ==")
    start = time.monotonic()
    with log.open("w") as out:
        tool_tests = subprocess.Popen(argv, cwd=ws.root, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            code = check_series(ws, pins, label, integration[0], run_tests=False)
            outcome.append(("series check, imports per patch", code, time.monotonic() - start))
        finally:
            tool_code = tool_tests.wait()
    print(log.read_text(errors="replace"), end="", flush=True)
    outcome.append((f"tool tests (Python {integration[0].minor})", tool_code, time.monotonic() - start))
    for version in unit_test_versions(pythons, integration, upstream):
        interpreter = next((i for i in integration if i.minor == version), None) or find(version)
        if interpreter is None:
            say(f"== version-sensitive unit tests: Python {version} is not installed here: not run ==")
            outcome.append((f"version-sensitive unit tests (Python {version})", None, 0.0))
            continue
        start = time.monotonic()
        code = run_version_sensitive(ws, pins, label, interpreter)
        outcome.append((f"version-sensitive unit tests (Python {version})", code, time.monotonic() - start))
    for interpreter in upstream:
        say(f"== upstream suites: base vs patched: {interpreter} ==")
        start = time.monotonic()
        code = run_upstream_suites(ws, pins, label, interpreter=interpreter)
        outcome.append((f"upstream suites (Python {interpreter.minor})", code, time.monotonic() - start))
    for n, interpreter in enumerate(integration):
        if n == 0 or pythons:
            stage("fork integration tests", interpreter, "tests", "--durations=15")
        else:
            only_first = ", ".join(FIRST_VERSION_ONLY)
            say(f"{only_first}: on Python {integration[0].minor} only (see FIRST_VERSION_ONLY)")
            ignored = [f"--ignore={path}" for path in FIRST_VERSION_ONLY]
            stage("fork integration tests", interpreter, "tests", "--durations=15", *ignored)

    say(
        "summary: "
        + ", ".join(
            f"{name}: not run (not installed)"
            if code is None
            else f"{name}: {'ok' if code == 0 else f'FAILED ({code})'} in {secs / 60:.1f} min"
            for name, code, secs in outcome
        )
    )
    return 0 if all(code in (0, None) for _, code, _ in outcome) else 1
