"""A private OpenSSH server on 127.0.0.1 for the SFTP/SSH tests, demo and benchmarks.

It runs Debian's OpenSSH sshd (installed here with apt when missing and we are root) with its own
host key, client key and config under a state directory, so it never touches the system's sshd.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from forktool.errors import ForkError
from forktool.progress import say

SSHD = "/usr/sbin/sshd"


def ensure_openssh() -> None:
    """Install openssh-server and openssh-client with apt when sshd or sftp is missing."""
    if Path(SSHD).exists() and shutil.which("sftp") and shutil.which("ssh-keygen"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ForkError(
            "OpenSSH sshd is not installed", "install it: apt-get install openssh-server openssh-client"
        )
    say("installing openssh-server with apt-get (once)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "openssh-server", "openssh-client"],
    ):
        if subprocess.run(argv, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            raise ForkError(f"`{' '.join(argv)}` failed", "install openssh-server by hand")


@dataclass(frozen=True)
class Sshd:
    """A running (or startable) loopback sshd; `user` logs in with `client_key`."""

    home: Path
    port: int
    user: str

    @property
    def client_key(self) -> Path:
        return self.home / "client_ed25519"

    @property
    def pid_file(self) -> Path:
        return self.home / "sshd.pid"

    @property
    def config(self) -> Path:
        return self.home / "sshd_config"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid

    def start(self, extra_config: str = "") -> Sshd:
        ensure_openssh()
        if self.pid():
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        for key in (self.home / "host_ed25519", self.client_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        authorized = self.home / "authorized_keys"
        authorized.write_text((self.client_key.with_suffix(".pub")).read_text())
        authorized.chmod(0o600)
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        self.config.write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {self.home / 'host_ed25519'}\n"
            f"PidFile {self.pid_file}\nAuthorizedKeysFile {authorized}\nAllowUsers {self.user}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "StrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\nMaxStartups 200:30:400\n"
            f"MaxSessions 200\nLogLevel ERROR\n{extra_config}"
        )
        proc = subprocess.run(
            [SSHD, "-f", str(self.config), "-E", str(self.home / "sshd.log")], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise ForkError(
                f"sshd did not start: {proc.stderr.strip() or proc.returncode}",
                f"see {self.home / 'sshd.log'}",
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise ForkError(
            f"sshd is not accepting connections on 127.0.0.1:{self.port}", f"see {self.home / 'sshd.log'}"
        )

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            os.kill(pid, 15)
            self.pid_file.unlink(missing_ok=True)
