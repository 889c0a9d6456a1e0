"""Downloads are verified against the pins; a bad file is refused and nothing is half-written."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from forktool.errors import ForkError
from forktool.series.fetch import fetch, verify


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A PEP 691 JSON index on 127.0.0.1 serving files from tmp_path/files."""
    files = tmp_path / "files"
    files.mkdir()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if parts[0] == "simple":
                body = json.dumps(
                    {
                        "files": [
                            {"filename": f.name, "url": f"{base}/files/{f.name}"} for f in files.iterdir()
                        ]
                    }
                ).encode()
            else:
                body = (files / parts[-1]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("FORK_INDEX_URL", f"{base}/simple")
    yield files
    server.shutdown()


def test_good_download_is_kept(index: Path, tmp_path: Path):
    (index / "pkg-1.0.tar.gz").write_bytes(b"good")
    dest = tmp_path / "dl"
    path = fetch("pkg", "pkg-1.0.tar.gz", hashlib.sha256(b"good").hexdigest(), dest)
    assert path.read_bytes() == b"good"


def test_tampered_download_is_refused_and_not_written(index: Path, tmp_path: Path):
    (index / "pkg-1.0.tar.gz").write_bytes(b"tampered")
    dest = tmp_path / "dl"
    with pytest.raises(ForkError, match="corrupt or has been tampered with"):
        fetch("pkg", "pkg-1.0.tar.gz", hashlib.sha256(b"good").hexdigest(), dest)
    assert list(dest.iterdir()) == [], "no partial or bad file is left behind"


def test_corrupt_cached_file_is_refused(tmp_path: Path):
    bad = tmp_path / "pkg-1.0.tar.gz"
    bad.write_bytes(b"corrupt")
    with pytest.raises(ForkError, match=r"delete .*pkg-1.0.tar.gz and run again"):
        verify(bad, hashlib.sha256(b"good").hexdigest())


def test_missing_file_on_index(index: Path, tmp_path: Path):
    with pytest.raises(ForkError, match="is not on"):
        fetch("pkg", "pkg-9.9.tar.gz", "0" * 64, tmp_path / "dl")
