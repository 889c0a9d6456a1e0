"""The seeded SFTP data set of the tests, the demo and ./fork bench sftp: XML files or big binary files
generated under a directory, with a manifest of their SHA-256 digests, and the check of a copy of it."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

from forktool.workspace import Workspace

FILES_PER_DIR = 1000
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")


def _xml_doc(rng: random.Random, idx: int, size: int) -> bytes:
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<batch id="{idx}" seed="{rng.getrandbits(32)}">\n'
    parts = [head]
    length = len(head)
    record = 0
    while length < size - 20:
        line = (
            f'  <record n="{record}" amount="{rng.randint(0, 10**9)}" tag="{rng.choice(_WORDS)}">'
            f"{rng.getrandbits(64):016x}{rng.choice(_WORDS)}</record>\n"
        )
        parts.append(line)
        length += len(line)
        record += 1
    parts.append("</batch>\n")
    return "".join(parts).encode()[: max(size, 64)]


def generate_dataset(root: Path, files: int, seed: int) -> dict[str, str]:
    """The seeded data set under `root` ({relative path: sha256}): `files` XML files of 2-20 KB.

    Deterministic for (files, seed); a data set whose manifest (`root`.json) matches is reused as is.
    """
    manifest = root.with_name(root.name + ".json")
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if data.get("files") == files and data.get("seed") == seed:
            sums: dict[str, str] = data["sha256"]
            return sums
    manifest.unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(seed)
    sums = {}
    for i in range(files):
        rel = f"d{i // FILES_PER_DIR:03d}/f{i:06d}.xml"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        body = _xml_doc(rng, i, rng.randint(2 * 1024, 20 * 1024))
        path.write_bytes(body)
        sums[rel] = hashlib.sha256(body).hexdigest()
    manifest.write_text(json.dumps({"files": files, "seed": seed, "sha256": sums}))  # last: marks it complete
    return sums


def verify(root: Path, sums: dict[str, str]) -> int:
    """How many expected files are missing or differ, plus unexpected files (e.g. partial downloads)."""
    bad = 0
    for rel, digest in sums.items():
        try:
            if hashlib.sha256((root / rel).read_bytes()).hexdigest() != digest:
                bad += 1
        except OSError:
            bad += 1
    found = {os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names}
    return bad + len(found - sums.keys())


def generate_big(root: Path, sizes: list[int], seed: int) -> dict[str, str]:
    """Files of the given byte sizes (random, incompressible bytes), reused when the manifest matches."""
    manifest = root.with_name(root.name + ".json")
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if data.get("sizes") == sizes and data.get("seed") == seed:
            return dict(data["sha256"])
    shutil.rmtree(root, ignore_errors=True)
    manifest.unlink(missing_ok=True)
    root.mkdir(parents=True)
    rng = random.Random(seed)
    sums = {}
    for i, size in enumerate(sizes):
        rel = f"file-{i:03d}-{size // 1_000_000}MB.bin"
        digest = hashlib.sha256()
        with (root / rel).open("wb") as f:
            left = size
            while left:
                chunk = rng.randbytes(min(left, 1 << 22))
                digest.update(chunk)
                f.write(chunk)
                left -= len(chunk)
        sums[rel] = digest.hexdigest()
    manifest.write_text(json.dumps({"sizes": sizes, "seed": seed, "sha256": sums}))
    return sums


def scratch_root(ws: Workspace, need: int) -> Path:
    """tmpfs keeps disk noise out of the figures; fall back to .fork/ when it is missing or small."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        stat = os.statvfs(shm)
        if stat.f_bavail * stat.f_frsize > 3 * need:
            return shm
    ws.state.mkdir(parents=True, exist_ok=True)
    return ws.state
