"""forktool.stack.redis_server: the loopback Redis of the Celery test stack and demo."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from forktool.errors import ForkError
from forktool.stack.airflow_stack import free_port
from forktool.stack.redis_server import RedisServer


def test_starts_answers_on_loopback_and_stops(tmp_path: Path):
    server = RedisServer(tmp_path / "redis", free_port()).start()
    try:
        assert server.ping()
        assert server.url(1) == f"redis://127.0.0.1:{server.port}/1"
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
            sock.sendall(b"CONFIG GET bind\r\n")
            assert b"127.0.0.1" in sock.recv(256)
    finally:
        server.stop()
    assert not server.ping()


def test_refuses_a_port_in_use(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ForkError, match="already in use"):
            RedisServer(tmp_path / "redis", busy.getsockname()[1]).start()
