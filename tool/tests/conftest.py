from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from forktool.series import pins as pins_mod
from forktool.series import tree
from forktool.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def downloads() -> Path:
    """The real download cache, shared so that tests do not fetch the sdists again."""
    path = Workspace(REPO).downloads
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_workspace(root: Path, downloads: Path) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "upstream.toml", root / "upstream.toml")
    (root / "patches").mkdir()
    (root / ".fork").mkdir()
    (root / ".fork" / "downloads").symlink_to(downloads)
    return Workspace(root)


@pytest.fixture(scope="session")
def base_tree(tmp_path_factory: pytest.TempPathFactory, downloads: Path) -> Path:
    """A materialized base (no patches), built once per session and copied by `workspace`."""
    ws = new_workspace(tmp_path_factory.mktemp("base") / "ws", downloads)
    tree.materialize(ws, pins_mod.load(ws.pins_file), base_only=True)
    return ws.tree


@pytest.fixture
def workspace(tmp_path: Path, downloads: Path, base_tree: Path) -> Workspace:
    ws = new_workspace(tmp_path / "ws", downloads)
    shutil.copytree(base_tree, ws.tree, symlinks=True)
    return ws


@pytest.fixture
def empty_workspace(tmp_path: Path, downloads: Path) -> Workspace:
    return new_workspace(tmp_path / "empty", downloads)


@pytest.fixture
def fork_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the tool as the user does, in a given workspace."""

    def run(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ, FORK_ROOT=str(ws.root), PYTHONPATH=str(REPO / "tool" / "src"))
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "forktool", *args], env=full_env, capture_output=True, text=True
        )

    return run
