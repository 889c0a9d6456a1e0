"""A private OpenSSH server on 127.0.0.1 for the SFTP/SSH tests, demo and benchmarks.

It runs Debian's OpenSSH sshd (installed here with apt when missing and we are root) with its own
host key, client key and config under a state directory, so it never touches the system's sshd.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from forktool.errors import ForkError
from forktool.stack.apt import apt_install

SSHD = "/usr/sbin/sshd"


def ensure_openssh() -> None:
    """Install openssh-server and openssh-client with apt when sshd or sftp is missing."""
    if Path(SSHD).exists() and shutil.which("sftp") and shutil.which("ssh-keygen"):
        return
    apt_install("OpenSSH sshd", ["openssh-server", "openssh-client"])


@dataclass(frozen=True)
class Sshd:
    """A running (or startable) loopback sshd; `user` logs in with `client_key`.

    `extra_config` holds sshd_config lines added to every start (e.g. ``ChannelTimeout session:*=1``).
    """

    home: Path
    port: int
    user: str
    extra_config: str = ""

    @property
    def client_key(self) -> Path:
        """An RSA key in PEM format: the form both paramiko and asyncssh read."""
        return self.home / "id_rsa"

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
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise ForkError(
                    f"127.0.0.1:{self.port} is already in use by another process",
                    "stop that server (e.g. another sshd) or choose another port",
                )
        self.home.mkdir(parents=True, exist_ok=True)
        host_key = self.home / "host_ed25519"
        for key, kind in (
            (host_key, ["-t", "ed25519"]),
            (self.client_key, ["-t", "rsa", "-b", "3072", "-m", "PEM"]),
        ):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", *kind, "-N", "", "-f", str(key)], check=True)
        authorized = self.home / "authorized_keys"
        authorized.write_text((self.client_key.with_suffix(".pub")).read_text())
        authorized.chmod(0o600)
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        self.config.write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {host_key}\n"
            f"PidFile {self.pid_file}\nAuthorizedKeysFile {authorized}\nAllowUsers {self.user}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "StrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\nMaxStartups 200:30:400\n"
            f"MaxSessions 200\nLogLevel ERROR\n{self.extra_config}\n{extra_config}"
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
                    if self.pid():  # the pid file can trail the listening socket
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise ForkError(
            f"sshd is not accepting connections on 127.0.0.1:{self.port}", f"see {self.home / 'sshd.log'}"
        )

    def user_home(self) -> Path:
        """A HOME for clients: ~/.ssh/id_rsa is the client key and localhost is a known host."""
        home = self.home / "client-home"
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True)
        for suffix in ("", ".pub"):
            target = ssh_dir / f"id_rsa{suffix}"
            target.write_bytes(self.client_key.with_name(self.client_key.name + suffix).read_bytes())
            target.chmod(0o600)
        host_pub = (self.home / "host_ed25519.pub").read_text().split()
        names = (
            "localhost,127.0.0.1" if self.port == 22 else f"[localhost]:{self.port},[127.0.0.1]:{self.port}"
        )
        (ssh_dir / "known_hosts").write_text(f"{names} {host_pub[0]} {host_pub[1]}\n")
        return home

    @property
    def host_key(self) -> str:
        """The server's public host key, ``TYPE BASE64``."""
        return " ".join((self.home / "host_ed25519.pub").read_text().split()[:2])

    def airflow_connection(self) -> str:
        """The JSON of an Airflow SFTP connection to this server (for ``AIRFLOW_CONN_<ID>``)."""
        extra = {"key_file": str(self.client_key), "host_key": self.host_key}
        return json.dumps(
            {"conn_type": "sftp", "host": "127.0.0.1", "port": self.port, "login": self.user, "extra": extra}
        )

    def connections(self) -> list[int]:
        """Pids of the per-connection sshd processes (the listener's children): one per live connection."""
        listener = self.pid()
        if listener is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            if int(stat.rsplit(")", 1)[1].split()[1]) == listener:
                pids.append(int(entry.name))
        return sorted(pids)

    def kill_connections(self, sig: int = signal.SIGTERM) -> list[int]:
        """Send `sig` to every per-connection sshd process (the listener stays up); return their pids."""
        pids = self.connections()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def wait_connections(self, expected: int, timeout: float = 5.0) -> int:
        """Poll until exactly `expected` connections are live or `timeout` passes; return the last count."""
        deadline = time.monotonic() + timeout
        while (count := len(self.connections())) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return count

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            os.kill(pid, 15)
            self.pid_file.unlink(missing_ok=True)
