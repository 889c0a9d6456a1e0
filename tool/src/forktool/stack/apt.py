"""Debian packages a command needs, installed with apt-get when missing (as root only)."""

from __future__ import annotations

import os
import shutil
import subprocess

from forktool.errors import ForkError
from forktool.progress import say


def apt_install(what: str, packages: list[str], options: tuple[str, ...] = ()) -> None:
    """Install `packages` (which provide `what`) with apt-get, or say how to when we cannot."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ForkError(f"{what} is not installed", f"install it: apt-get install {' '.join(packages)}")
    say(f"installing {packages[0]} with apt-get (once)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", *options, *packages],
    ):
        if subprocess.run(argv, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            raise ForkError(f"`{' '.join(argv)}` failed", f"install {packages[0]} by hand")
