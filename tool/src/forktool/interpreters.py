"""The Python a patched environment is built on: `--python 3.13` or `--python /path/to/python`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from forktool.errors import ForkError

# Airflow 3.3.2's core and task-sdk declare >=3.10,!=3.15, but the providers the series patches
# (standard, sftp, ssh) declare >=3.11: the fork supports the versions all of them install on.
SUPPORTED = ((3, 11), (3, 12), (3, 13), (3, 14))
# The versions ./fork test (CI) runs the fork's integration tests on, and those it runs upstream's
# suites on (one: the suites take ~17 minutes per interpreter on a 2-core machine, see README).
TEST_MATRIX = ("3.11", "3.13")
UPSTREAM_SUITES_MATRIX = ("3.11",)

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")
_PROBE = "import sys; print(sys.implementation.name, *sys.version_info[:3])"


def _supported_text() -> str:
    return f"{SUPPORTED[0][0]}.{SUPPORTED[0][1]} to {SUPPORTED[-1][0]}.{SUPPORTED[-1][1]}"


@dataclass(frozen=True)
class Interpreter:
    """A CPython executable and its version (major, minor, micro)."""

    path: Path
    version: tuple[int, int, int]

    @property
    def minor(self) -> str:
        """'3.13': the part of the version an environment is named and built for."""
        return f"{self.version[0]}.{self.version[1]}"

    def __str__(self) -> str:
        return f"Python {'.'.join(map(str, self.version))} ({self.path})"


def probe(path: Path) -> Interpreter | None:
    """The interpreter at path, or None when it is not a runnable CPython (e.g. a pyenv shim of a
    version the pyenv configuration does not activate)."""
    try:
        proc = subprocess.run(
            [str(path), "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = proc.stdout.split()
    if (
        proc.returncode != 0
        or len(parts) != 4
        or parts[0] != "cpython"
        or not all(p.isdigit() for p in parts[1:])
    ):
        return None
    return Interpreter(path, (int(parts[1]), int(parts[2]), int(parts[3])))


def current() -> Interpreter:
    """The interpreter running the tool (the one ./fork picked): the default of every command."""
    v = sys.version_info
    return Interpreter(Path(sys.executable), (v.major, v.minor, v.micro))


def _check_supported(version: tuple[int, int], what: str) -> None:
    if version not in SUPPORTED:
        raise ForkError(
            f"{what} is not supported: the fork supports Python {_supported_text()} "
            "(Airflow 3.3.2's standard, sftp and ssh providers need 3.11 or newer)",
            "pass --python with one of them, e.g. --python 3.13",
        )


def _pyenv_root() -> Path | None:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    exe = shutil.which("pyenv")
    if exe:
        try:
            out = subprocess.run([exe, "root"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def _micro(path: Path) -> int:
    match = _VERSION.match(path.name)
    return int(match.group(3) or 0) if match else -1


def candidates(minor: str) -> list[Path]:
    """Where Python `minor` (e.g. '3.13') may live: the tool's own interpreter, pythonX.Y on PATH,
    then pyenv's versions/X.Y.* (newest micro first)."""
    found = []
    if current().minor == minor:
        found.append(current().path)
    on_path = shutil.which(f"python{minor}")
    if on_path:
        found.append(Path(on_path))
    root = _pyenv_root()
    if root is not None:
        versions = sorted((root / "versions").glob(f"{minor}.*"), key=_micro, reverse=True)
        found += [v / "bin" / f"python{minor}" for v in versions if _micro(v) >= 0]
    return found


def find(minor: str, micro: int | None = None) -> Interpreter | None:
    """The first candidate that runs and is Python `minor` (and `micro`, when given), else None."""
    for path in candidates(minor):
        interp = probe(path)
        if interp is not None and interp.minor == minor and micro in (None, interp.version[2]):
            return interp
    return None


def resolve(spec: str | None) -> Interpreter:
    """--python's value: None (the tool's interpreter), a version ('3.13', '3.13.0') or a path.

    Raises ForkError with what to do for an unsupported version, a version not installed, a path
    that does not exist or is not a Python interpreter.
    """
    if spec is None:
        return current()
    match = _VERSION.match(spec)
    if match:
        major, minor, micro = int(match.group(1)), int(match.group(2)), match.group(3)
        _check_supported((major, minor), f"Python {spec}")
        want = f"{major}.{minor}"
        interp = find(want, None if micro is None else int(micro))
        if interp is None:
            where = " and ".join(
                [f"python{want} on PATH"] + ([f"{_pyenv_root()}/versions/{want}.*"] if _pyenv_root() else [])
            )
            raise ForkError(
                f"Python {spec} is not installed (looked for {where})",
                f"install it (e.g. pyenv install {spec}) or pass its path: --python /path/to/python{want}",
            )
        return interp
    path = Path(spec).expanduser()
    if "/" not in spec and not path.exists():
        raise ForkError(
            f"--python {spec!r} is neither a version nor a path",
            "give a version such as --python 3.13 or an interpreter's path",
        )
    if not path.exists():
        raise ForkError(
            f"--python {spec}: no such file", "give an interpreter's path or a version such as 3.13"
        )
    interp = probe(path.absolute())
    if interp is None:
        raise ForkError(
            f"--python {spec} is not a Python interpreter (running it with -c failed)",
            "give a CPython executable such as /usr/bin/python3.13, or a version such as 3.13",
        )
    _check_supported(interp.version[:2], f"{spec} (Python {'.'.join(map(str, interp.version))})")
    return interp
