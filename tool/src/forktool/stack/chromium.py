"""Headless Chromium for screenshots of the Airflow UI (e.g. the docs' picture of `.iterate()` progress).

Debian's `chromium` package is installed with apt when it is missing and we are root, like OpenSSH in
`forktool.stack.sshd`. Every run gets a fresh profile and no background networking, so the browser only
talks to the URL it is given.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from forktool.errors import ForkError
from forktool.stack.apt import apt_install

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


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Stop a process started with ``start_new_session=True`` and every process of its group.

    Chromium's helpers (renderer, GPU, network, crashpad) outlive its main process for a moment after
    SIGTERM and go on writing into the profile directory; removing the profile before they are gone fails
    with "Directory not empty". SIGTERM to the group, then SIGKILL to what is left of it, then wait until
    the group is empty (bounded by `timeout` seconds).
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while group_members(proc.pid) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after it.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended while we looked
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


class Browser:
    """A headless Chromium driven over the DevTools protocol (CDP), for tests that read a live page.

    Needs the ``websockets`` package (a dependency of uvicorn, so present in the patched environment,
    not in the tool's own): only ``import``-ed when a browser is started. One page (the first tab);
    :meth:`evaluate` runs JavaScript in it and returns the JSON value.

        with Browser(width=1400, height=900) as browser:
            browser.navigate("http://127.0.0.1:8080/")
            title = browser.wait_for("document.title || null")
    """

    def __init__(self, *, width: int = 1400, height: int = 900, timeout: float = 60) -> None:
        self.width = width
        self.height = height
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._ws: Any = None
        self._closing = contextlib.ExitStack()
        self._next_id = 0

    def __enter__(self) -> Browser:
        from websockets.sync.client import connect  # type: ignore[import-not-found]  # see the class doc

        browser = ensure_chromium()
        self._profile = tempfile.TemporaryDirectory(prefix="fork-chromium-")
        self._proc = subprocess.Popen(
            [
                browser,
                *HEADLESS_FLAGS,
                f"--user-data-dir={self._profile.name}",
                f"--window-size={self.width},{self.height}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise ForkError("chromium did not open its DevTools port", f"exit code {self._proc.poll()}")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            pages = [t for t in json.load(response) if t.get("type") == "page"]
        self._ws = self._closing.enter_context(
            connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)
        )
        self.send("Page.enable")
        self.send("Runtime.enable")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.close()
        self._ws = None
        if self._proc is not None:
            stop_process_group(self._proc)
            self._proc = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a CDP method; return its result (events that arrive meanwhile are dropped)."""

        self._next_id += 1
        msg_id = self._next_id
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv(timeout=self.timeout))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise ForkError(f"CDP {method} failed", json.dumps(msg["error"]))
                return dict(msg.get("result", {}))

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """Run `expression` in the page (awaiting a promise) and return its JSON value."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise ForkError(
                "JavaScript error in the page",
                str(details.get("exception", {}).get("description") or details.get("text")),
            )
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout: float | None = None, interval: float = 0.2) -> Any:
        """Evaluate `expression` until it returns a truthy value; return it."""

        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise ForkError(
                    f"timed out waiting in the browser for: {expression}", f"last value: {value!r}"
                )
            time.sleep(interval)

    def screenshot(self, out: Path) -> Path:
        """Write a PNG of the page's window to `out`."""

        out = out.resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        data = self.send("Page.captureScreenshot", format="png")["data"]
        out.write_bytes(base64.b64decode(data))
        return out
