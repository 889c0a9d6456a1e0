"""Headless Chromium for screenshots of the Airflow UI (e.g. the docs' picture of `.iterate()` progress).

Debian's `chromium` package is installed with apt when it is missing and we are root, like OpenSSH in
`forktool.sshd`. Every run gets a fresh profile and no background networking, so the browser only
talks to the URL it is given.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from forktool.apt import apt_install
from forktool.errors import ForkError

CHROMIUM = "/usr/bin/chromium"

#: Flags of every run: headless, no sandbox (we run as root in containers), nothing phoning home.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def ensure_chromium() -> str:
    """Install Debian's chromium with apt when it is missing; return the browser's path."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    apt_install("Chromium", ["chromium", "fonts-dejavu-core"], ("--no-install-recommends",))
    if not Path(CHROMIUM).exists():
        raise ForkError(f"apt-get installed chromium but {CHROMIUM} is missing", "install chromium by hand")
    return CHROMIUM


def screenshot(
    url: str,
    out: Path,
    *,
    width: int = 1400,
    height: int = 900,
    budget_ms: int = 15000,
    timeout: float = 120,
) -> None:
    """Load `url` in a fresh headless Chromium and write a PNG of the window to `out`.

    `budget_ms` is Chromium's virtual time budget: how long the page may run its scripts and fetches
    before the picture is taken.
    """
    browser = ensure_chromium()
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="fork-chromium-") as profile:
        argv = [
            browser,
            *HEADLESS_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={out}",
            url,
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not out.exists():
        raise ForkError(f"chromium did not write {out} (exit {proc.returncode})", proc.stderr.strip()[-2000:])
