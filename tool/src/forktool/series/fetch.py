"""Downloads from the package index, verified against the pinned sha256 before they are kept."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from forktool.errors import ForkError
from forktool.progress import Progress

DEFAULT_INDEX = "https://pypi.org/simple"


def index_url() -> str:
    return (os.environ.get("FORK_INDEX_URL") or os.environ.get("UV_INDEX_URL") or DEFAULT_INDEX).rstrip("/")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, sha256: str) -> None:
    actual = sha256_of(path)
    if actual != sha256:
        raise ForkError(
            f"{path.name} has sha256 {actual}, but upstream.toml pins {sha256}: the file is corrupt "
            "or has been tampered with",
            f"delete {path} and run again; if it persists, check the pin",
        )


def _file_url(project: str, filename: str) -> str:
    url = f"{index_url()}/{project.replace('_', '-')}/"
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            listing = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise ForkError(
            f"cannot read the index page {url}: {err}", "check the network or FORK_INDEX_URL"
        ) from None
    for entry in listing.get("files", []):
        if entry.get("filename") == filename:
            return str(entry["url"])
    raise ForkError(f"{filename} is not on {url}", "check the version in upstream.toml")


def fetch(project: str, filename: str, sha256: str, dest_dir: Path) -> Path:
    """Return dest_dir/filename, downloading it if needed. Only a verified file is ever kept there."""
    dest = dest_dir / filename
    if dest.exists():
        verify(dest, sha256)
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    url = _file_url(project, filename)
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=120) as response, partial.open("wb") as out:
            progress = Progress(
                f"downloading {filename}", int(response.headers.get("Content-Length") or 0), "B"
            )
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                progress.advance(len(chunk))
            progress.finish()
        verify(partial, sha256)
    except (urllib.error.URLError, OSError) as err:
        partial.unlink(missing_ok=True)
        raise ForkError(f"download of {url} failed: {err}", "check the network and run again") from None
    except ForkError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(dest)
    return dest
