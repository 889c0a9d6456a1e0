"""Custom wheels: reproducible builds of the distributions the series touches, with a local label."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from forktool.errors import ForkError
from forktool.fetch import fetch, sha256_of
from forktool.git import Git
from forktool.pins import Dist, Pins
from forktool.progress import say
from forktool.tree import BASE_TAG, touched_paths
from forktool.workspace import Workspace

MANIFEST = "manifest.json"


def uv() -> str:
    exe = os.environ.get("FORK_UV") or shutil.which("uv")
    if not exe:
        raise ForkError("uv is not available", "run the tool through ./fork, which installs it")
    return exe


def touched_dists(git: Git, pins: Pins) -> list[Dist]:
    """The distributions whose files (or shared libraries they include) the series changes."""
    paths = touched_paths(git)
    shared = {p.split("/")[1] for p in paths if p.startswith("shared/")}
    return [
        dist
        for dist in pins.dists
        if any(dist.owns(p) for p in paths)
        or any(any((git.repo / dist.folder).glob(f"**/_shared/{name}")) for name in shared)
    ]


def build_copy(git: Git, rev: str, dist: Dist, dest: Path) -> Path:
    """The dist's folder at rev with shared-library links resolved: the layout of its sdist."""
    paths = [dist.folder] + (["shared"] if git.ok("cat-file", "-e", f"{rev}:shared") else [])
    archive = git.run("archive", "--format=tar", rev, "--", *paths).stdout
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="tar")
        shutil.copytree(Path(tmp) / dist.folder, dest, symlinks=False)
    return dest


def stamp_label(copy: Path, dist: Dist, label: str) -> None:
    """Set the PEP 440 local label in the build copy's version declaration."""
    path = copy / dist.version_file
    pattern = re.compile(
        rf'^(\s*(?:__version__|version)\s*=\s*")({re.escape(dist.version)})(")', re.MULTILINE
    )
    text, count = pattern.subn(rf"\g<1>{dist.local_version(label)}\g<3>", path.read_text(), count=1)
    if count != 1:
        raise ForkError(f"no version {dist.version!r} declaration in {dist.folder}/{dist.version_file}")
    path.write_text(text)


def build_wheel(source: Path, out: Path, dist: Dist) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(dist.source_date_epoch))
    proc = subprocess.run(
        [uv(), "build", "--wheel", "--quiet", "--out-dir", str(out), str(source)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ForkError(
            f"building the {dist.name} wheel failed: {tail}", f"rebuild by hand: uv build --wheel {source}"
        )
    built = sorted(out.glob(f"{dist.project}-*.whl"), key=lambda p: p.stat().st_mtime)
    return built[-1]


@dataclass(frozen=True)
class Built:
    dist: Dist
    wheel: Path


def build_series_wheels(ws: Workspace, git: Git, pins: Pins, label: str) -> list[Built]:
    """Wheels of HEAD for every touched dist, reusing a cached one when its sources did not change."""
    out = ws.wheels(label)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    manifest: dict[str, dict[str, str]] = (
        json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    )
    results = []
    paths = touched_paths(git)
    for dist in touched_dists(git, pins):
        if not dist.rebuild:
            changed = [p for p in paths if dist.owns(p)]
            say(
                f"note: the series changes {dist.name} ({', '.join(changed)}), which the fork installs "
                "from PyPI: those changes are for upstream and not in the custom build"
            )
            continue
        key = git.out("rev-parse", f"HEAD:{dist.folder}") + "/" + git.out("rev-parse", "HEAD:shared")
        cached = manifest.get(dist.name, {})
        wheel = out / cached.get("wheel", "-")
        if cached.get("sources") == key and wheel.exists() and sha256_of(wheel) == cached.get("sha256"):
            results.append(Built(dist, wheel))
            continue
        say(f"building {dist.name} {dist.local_version(label)}")
        for old in out.glob(f"{dist.project}-*.whl"):
            old.unlink()
        with tempfile.TemporaryDirectory() as tmp:
            copy = build_copy(git, "HEAD", dist, Path(tmp) / dist.folder.replace("/", "-"))
            if label:
                stamp_label(copy, dist, label)
            wheel = build_wheel(copy, out, dist)
        manifest[dist.name] = {"sources": key, "wheel": wheel.name, "sha256": sha256_of(wheel)}
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        results.append(Built(dist, wheel))
    return results


@dataclass(frozen=True)
class GateRow:
    dist: Dist
    rebuilt_sha256: str
    pypi_sha256: str

    @property
    def identical(self) -> bool:
        return self.rebuilt_sha256 == self.pypi_sha256


def verify_base(ws: Workspace, git: Git, pins: Pins) -> list[GateRow]:
    """Rebuild every rebuildable dist from the unpatched base commit; compare with PyPI's wheel."""
    rows = []
    for dist in pins.rebuildable:
        pypi = fetch(dist.project, dist.wheel_filename, dist.wheel_sha256, ws.downloads)
        with tempfile.TemporaryDirectory() as tmp:
            copy = build_copy(git, BASE_TAG, dist, Path(tmp) / "src")
            wheel = build_wheel(copy, Path(tmp) / "out", dist)
            rows.append(GateRow(dist, sha256_of(wheel), sha256_of(pypi)))
    return rows
