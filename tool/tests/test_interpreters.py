"""--python: a version found on PATH or in pyenv, or an interpreter's path; bad input is one line that says
what to do; one environment per Python version."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from forktool import interpreters
from forktool.errors import ForkError
from forktool.interpreters import Interpreter
from forktool.series.env import venv_name
from forktool.series.testing import matrix, unit_test_versions

CURRENT = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def no_other_pythons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH without any pythonX.Y and an empty pyenv root: only the tool's own interpreter exists."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    root = tmp_path / "pyenv"
    (root / "versions").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("PYENV_ROOT", str(root))
    return bin_dir


def _error(fork_cli, ws, *args: str, env: dict[str, str] | None = None) -> str:
    proc = fork_cli(ws, *args, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("fork: error: ")
    return lines[0]


@pytest.mark.parametrize("version", ["3.9", "3.10", "2.7", "3.15"])
def test_unsupported_version(fork_cli, empty_workspace, version):
    line = _error(fork_cli, empty_workspace, "python", "--python", version)
    assert f"Python {version} is not supported" in line
    assert "supports Python 3.11 to 3.14" in line and "--python 3.13" in line


def test_unsupported_interpreter_by_path(tmp_path):
    """A path to a real interpreter of an unsupported version: the version check applies to paths too."""
    fake = tmp_path / "python3.9"
    fake.write_text("#!/bin/sh\necho cpython 3 9 18\n")
    fake.chmod(0o755)
    with pytest.raises(
        ForkError, match=r"\(Python 3\.9\.18\) is not supported: the fork supports Python 3\.11"
    ):
        interpreters.resolve(str(fake))


@pytest.mark.parametrize("content", ["not a program\n", "#!/bin/sh\necho hello\n", "#!/bin/sh\nexit 3\n"])
def test_path_that_is_not_an_interpreter(fork_cli, empty_workspace, tmp_path, content):
    path = tmp_path / "notpython"
    path.write_text(content)
    path.chmod(0o755)
    line = _error(fork_cli, empty_workspace, "run", "--python", str(path), "true")
    assert f"--python {path} is not a Python interpreter" in line
    assert "give a CPython executable" in line


def test_missing_path_and_nonsense(fork_cli, empty_workspace, tmp_path):
    line = _error(fork_cli, empty_workspace, "test", "--python", str(tmp_path / "nope"))
    assert "no such file" in line
    line = _error(fork_cli, empty_workspace, "demo", "--python", "latest")
    assert "'latest' is neither a version nor a path" in line


def test_version_not_installed(fork_cli, empty_workspace, tmp_path, no_other_pythons):
    # A pyenv shim of a version the pyenv configuration does not activate exits non-zero: not an interpreter.
    shim = no_other_pythons / "python3.14"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.14: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "PYENV_ROOT": os.environ["PYENV_ROOT"]}
    line = _error(fork_cli, empty_workspace, "bench", "task-overhead", "--python", "3.14", env=env)
    assert "Python 3.14 is not installed" in line
    assert "pyenv install 3.14" in line and "--python /path/to/python3.14" in line


def test_found_in_pyenv_versions_newest_first(tmp_path, monkeypatch):
    root = tmp_path / "pyenv"
    for version in ("3.12.1", "3.12.10", "3.12.3", "3.13.0"):
        (root / "versions" / version / "bin").mkdir(parents=True)
    monkeypatch.setenv("PYENV_ROOT", str(root))
    monkeypatch.setenv("PATH", str(tmp_path))
    found = [p for p in interpreters.candidates("3.12") if str(p).startswith(str(root))]
    assert found == [root / "versions" / v / "bin" / "python3.12" for v in ("3.12.10", "3.12.3", "3.12.1")]


def test_default_and_own_version_are_the_running_interpreter(no_other_pythons):
    assert interpreters.resolve(None).path == Path(sys.executable)
    resolved = interpreters.resolve(CURRENT)
    assert resolved.minor == CURRENT and resolved.version == tuple(sys.version_info[:3])
    assert interpreters.resolve(sys.executable).version == tuple(sys.version_info[:3])
    exact = f"{CURRENT}.{sys.version_info.micro}"
    assert interpreters.resolve(exact).version == tuple(sys.version_info[:3])
    with pytest.raises(ForkError, match=rf"Python {CURRENT}\.99 is not installed"):
        interpreters.resolve(f"{CURRENT}.99")


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_installed_versions_are_found(version):
    """This machine has 3.12 and 3.13 from pyenv, not on PATH by name; elsewhere: nothing to find."""
    if interpreters.find(version) is None:
        pytest.skip(f"Python {version} is not installed here (neither python{version} on PATH nor in pyenv)")
    assert interpreters.resolve(version).minor == version


def test_one_environment_per_version():
    py313 = Interpreter(Path("/opt/python3.13"), (3, 13, 0))
    assert venv_name("aip98", py313) == "aip98-py3.13"
    assert venv_name("aip98", py313, base=True) == "upstream-base-py3.13"
    assert venv_name("acme.1", Interpreter(Path("/usr/bin/python3"), (3, 11, 7))) == "acme.1-py3.11"


def test_test_matrix_needs_every_version_and_says_how_to_test_one(no_other_pythons):
    missing = [v for v in interpreters.TEST_MATRIX if v != CURRENT]
    assert missing, "the matrix has more than the tool's own version"
    with pytest.raises(ForkError) as err:
        matrix(None)
    assert f"Python {missing[0]} is not installed" in str(err.value)
    assert "./fork test --python X.Y" in str(err.value)
    integration, upstream = matrix([CURRENT, sys.executable])
    assert [i.minor for i in integration] == [CURRENT] and upstream == integration


def test_version_sensitive_unit_tests_run_where_the_suites_do_not():
    """CI: on every supported version but 3.11, whose upstream suites include them; --python X: none
    (the suites run on X)."""
    py = {v: Interpreter(Path(f"/p{v}"), (3, int(v[2:]), 0)) for v in ("3.11", "3.13")}
    assert unit_test_versions(None, [py["3.11"], py["3.13"]], [py["3.11"]]) == ["3.12", "3.13", "3.14"]
    assert unit_test_versions(["3.13"], [py["3.13"]], [py["3.13"]]) == []
