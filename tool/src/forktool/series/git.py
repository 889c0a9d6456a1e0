"""git with an isolated configuration, so that results never depend on the user's settings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from forktool.errors import ForkError

# The identity and date of commits the tool makes itself (the base commit).
TOOL_IDENTITY = ("AIP-98 fork", "fork@aip98.invalid")


def require_git() -> str:
    git = shutil.which("git")
    if git is None:
        raise ForkError("git is not installed or not on PATH", "install git (2.30 or newer) and run again")
    return git


def isolated_env(date: int | None = None) -> dict[str, str]:
    """An environment in which git reads no system or global config and writes UTC dates."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
        TZ="UTC",
        GIT_AUTHOR_NAME=TOOL_IDENTITY[0],
        GIT_AUTHOR_EMAIL=TOOL_IDENTITY[1],
        GIT_COMMITTER_NAME=TOOL_IDENTITY[0],
        GIT_COMMITTER_EMAIL=TOOL_IDENTITY[1],
    )
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{date} +0000"
    return env


class Git:
    def __init__(self, repo: Path, date: int | None = None) -> None:
        self.repo = repo
        self.exe = require_git()
        self.env = isolated_env(date)

    def run(
        self, *args: str, check: bool = True, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            [self.exe, "-C", str(self.repo), *args], env=self.env, input=input, capture_output=True
        )
        if check and proc.returncode != 0:
            stderr = proc.stderr.decode(errors="replace").strip().splitlines()
            raise ForkError(
                f"git {args[0]} failed in {self.repo}: {stderr[-1] if stderr else proc.returncode}"
            )
        return proc

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.decode().strip()

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False).returncode == 0
