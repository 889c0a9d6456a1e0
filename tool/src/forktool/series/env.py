"""The patched environment: the custom wheels of the distributions the series touches, the others
from PyPI, third-party packages pinned; one per Python version (.fork/venvs/<label>-py3.13)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from forktool.errors import ForkError
from forktool.interpreters import SUPPORTED, Interpreter, current
from forktool.progress import say
from forktool.series.pins import Pins
from forktool.series.tree import ensure_tree
from forktool.series.wheels import build_series_wheels, uv
from forktool.workspace import Workspace

STAMP = ".fork-env"


def requirements(ws: Workspace, pins: Pins, wheels: dict[str, Path]) -> list[str]:
    """Every pinned dist: its custom wheel when the series touches it, else the PyPI release."""
    reqs = [str(wheels[d.name]) if d.name in wheels else f"{d.name}=={d.version}" for d in pins.dists]
    if ws.requirements.exists():
        reqs += ["-r", str(ws.requirements)]
    if ws.devel_common.exists():
        reqs += ["-e", str(ws.devel_common)]
    if ws.constraints.exists():
        reqs += ["-c", str(ws.constraints)]
    return reqs


def lock(ws: Workspace, pins: Pins) -> list[str]:
    """Resolve every third-party dependency once and pin it in requirements/constraints.txt.

    One universal resolution for Python 3.11 and newer: where a package needs another version on a newer
    Python (numpy, contourpy), the file pins both behind python_full_version markers. Then it checks that
    the pins resolve on each supported version (forktool.interpreters.SUPPORTED) on its own, and returns
    those versions ('3.11', ...).
    """
    with tempfile.TemporaryDirectory() as tmp:
        wanted = Path(tmp) / "requirements.in"
        lines = [f"{d.name}=={d.version}" for d in pins.dists]
        if ws.requirements.exists():
            lines.append(f"-r {ws.requirements}")
        if ws.devel_common.exists():
            lines.append(f"-e {ws.devel_common}")
        wanted.write_text("\n".join(lines) + "\n")
        out = Path(tmp) / "constraints.txt"
        if ws.constraints.exists():  # uv keeps the pins of an existing output file unless they must move
            out.write_text(ws.constraints.read_text())
        skip = [arg for d in pins.dists for arg in ("--no-emit-package", d.name)]
        skip += ["--no-emit-package", "airflow-fork-devel-common"]
        _uv(
            "pip",
            "compile",
            "--quiet",
            "--universal",
            "--python-version",
            "3.11",
            "--no-header",
            "--no-annotate",
            *skip,
            "-o",
            str(out),
            str(wanted),
        )
        header = (
            "# Pins of every third-party package of the environments, for every Python the fork supports\n"
            "# (one universal resolution, markers where versions differ); regenerate with ./fork lock.\n"
        )
        ws.constraints.write_text(header + out.read_text())
        checked = []
        for version in (f"{major}.{minor}" for major, minor in SUPPORTED):
            say(f"checking that the pins resolve on Python {version}")
            _uv(
                "pip",
                "compile",
                "--quiet",
                "--python-version",
                version,
                "--no-header",
                *skip,
                "-c",
                str(ws.constraints),
                "-o",
                str(Path(tmp) / f"check-{version}.txt"),
                str(wanted),
            )
            checked.append(version)
        return checked


def python_of(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def venv_name(label: str, interpreter: Interpreter, base: bool = False) -> str:
    """aip98-py3.13 (upstream-base-py3.13 for the unpatched one): one environment per Python version."""
    return f"{'upstream-base' if base else label}-py{interpreter.minor}"


def ensure_env(
    ws: Workspace, pins: Pins, label: str, base: bool = False, interpreter: Interpreter | None = None
) -> Path:
    """Return the interpreter of the environment, creating or updating it when its inputs changed.

    With base=True the environment holds the unpatched upstream releases only (for side-by-side runs).
    interpreter: the Python it is built on (default: the tool's own, see forktool.interpreters). The
    custom wheels are pure Python (py3-none-any), built once per label and shared by every version.
    """
    interpreter = interpreter or current()
    wheels: dict[str, Path] = {}
    if not base:
        git = ensure_tree(ws, pins)
        # One build per label for every Python version (the wheels are py3-none-any); the lock keeps
        # two commands that build environments at once (e.g. on 3.11 and 3.13) from racing on it.
        with _exclusive(ws.wheels(label).parent / f"{label}.lock"):
            wheels = {b.dist.name: b.wheel for b in build_series_wheels(ws, git, pins, label)}
    venv = ws.venv(venv_name(label, interpreter, base))
    reqs = requirements(ws, pins, wheels)
    digest = hashlib.sha256("\n".join([str(interpreter), *reqs]).encode())
    for path in [*wheels.values(), ws.requirements, ws.constraints, ws.devel_common / "pyproject.toml"]:
        if path.exists():
            digest.update(path.read_bytes())
    stamp = venv / STAMP
    python = python_of(venv)
    if python.exists() and stamp.exists() and stamp.read_text() == digest.hexdigest():
        return python
    say(f"creating environment {venv.relative_to(ws.root)} on {interpreter} (first time: a few minutes)")
    _uv("venv", "--quiet", "--allow-existing", "--python", str(interpreter.path), str(venv))
    _uv("pip", "install", "--python", str(python), *_reinstall(pins), *reqs)
    stamp.write_text(digest.hexdigest())
    return python


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An advisory lock (flock) on path, created if missing, held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _reinstall(pins: Pins) -> list[str]:
    args = []
    for dist in pins.rebuildable:
        args += ["--reinstall-package", dist.name]
    return args


def _uv(*args: str) -> None:
    proc = subprocess.run([uv(), *args], stdout=sys.stderr)
    if proc.returncode != 0:
        raise ForkError(
            f"uv {args[0]} {args[1] if len(args) > 1 else ''} failed (exit {proc.returncode})",
            "see the output above",
        )


def env_vars(python: Path) -> dict[str, str]:
    """The environment for running commands inside the venv."""
    bin_dir = str(python.parent)
    env = dict(
        os.environ,
        VIRTUAL_ENV=str(python.parent.parent),
        PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
    )
    env.pop("PYTHONHOME", None)
    return env


def run_in(
    python: Path, argv: list[str], cwd: Path | None = None, extra: dict[str, str] | None = None
) -> int:
    if not argv:
        raise ForkError("no command given", "e.g. ./fork run airflow version")
    env = env_vars(python)
    env.update(extra or {})
    try:
        return subprocess.run(argv, cwd=cwd, env=env).returncode
    except FileNotFoundError:
        raise ForkError(f"command not found in the environment: {argv[0]}") from None
