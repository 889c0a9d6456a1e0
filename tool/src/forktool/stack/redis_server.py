"""A private Redis server on 127.0.0.1: the Celery broker and result backend of the test stack and demo.

It runs Debian's ``redis-server`` (installed here with apt when missing and we are root) as a child
process on its own port, with no persistence and its files under a state directory, so it never
touches a system Redis. Started and stopped by its user (a test fixture, the demo).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from forktool.errors import ForkError
from forktool.stack.apt import apt_install

REDIS_SERVER = "redis-server"


def ensure_redis() -> str:
    """The path of ``redis-server``, installing Debian's package with apt when it is missing."""
    path = shutil.which(REDIS_SERVER)
    if path is None:
        apt_install("Redis (redis-server)", ["redis-server"], ("--no-install-recommends",))
        path = shutil.which(REDIS_SERVER)
    if path is None:
        raise ForkError("redis-server is not on PATH after installing it", "install redis-server by hand")
    return path


@dataclass
class RedisServer:
    """A loopback Redis on `port`; `home` holds its log. ``url(db)`` is its ``redis://`` URL."""

    home: Path
    port: int
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def log(self) -> Path:
        return self.home / "redis.log"

    def start(self) -> RedisServer:
        server = ensure_redis()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise ForkError(
                    f"127.0.0.1:{self.port} is already in use by another process", "choose another port"
                )
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [
            server,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.home),
            "--logfile", str(self.log),
        ]  # fmt: skip
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ForkError(f"redis-server exited with {self._proc.returncode}", f"see {self.log}")
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise ForkError(f"redis-server is not answering on 127.0.0.1:{self.port}", f"see {self.log}")

    def ping(self) -> bool:
        """True when the server answers PING (RESP inline command) within a second."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
