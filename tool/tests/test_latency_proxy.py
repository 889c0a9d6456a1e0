"""LatencyProxy forwards both ways and holds what the client sends for at least its delay."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

from forktool.stack.latency_proxy import LatencyProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data.upper())


def test_forwards_and_delays_requests() -> None:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            proxy = LatencyProxy(server.server_address[1], delay=0.2).start()
            try:
                with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
                    for word in (b"first", b"second"):
                        start = time.monotonic()
                        conn.sendall(word)
                        answer = conn.recv(100)
                        assert answer == word.upper()
                        assert time.monotonic() - start >= 0.2
            finally:
                proxy.stop()
        finally:
            server.shutdown()
