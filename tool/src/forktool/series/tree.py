"""The materialized upstream tree: one deterministic base commit, then one commit per patch."""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from forktool.errors import ForkError
from forktool.progress import Progress, say
from forktool.series.fetch import fetch
from forktool.series.git import Git
from forktool.series.pins import Dist, Pins
from forktool.workspace import Workspace

BASE_TAG = "upstream-base"
BRANCH = "aip98"
SERIES_FILE = "series"
# Options that make `git format-patch` output depend on nothing but the commits.
FORMAT_PATCH_OPTIONS = ("--zero-commit", "--full-index", "--no-signature", "--no-numbered", "--binary")
AM_OPTIONS = ("--keep-cr", "--committer-date-is-author-date")


def base_message(pins: Pins) -> str:
    lines = [f"{d.name} {d.version} -> {d.folder}/ (sdist sha256 {d.sdist_sha256})" for d in pins.dists]
    return "Upstream base from PyPI sdists\n\n" + "\n".join(lines) + "\n"


def _extract_sdist(sdist: Path, dist: Dist, dest: Path, progress: Progress) -> None:
    """Unpack an sdist's root into dest, leaving out PKG-INFO and the pinned generated paths."""
    skip = {"PKG-INFO", *dist.strip}
    with tarfile.open(sdist) as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if len(parts) < 2:
                continue
            rel = PurePosixPath(*parts[1:])
            if rel.is_absolute() or ".." in rel.parts:
                raise ForkError(f"{sdist.name} has an unsafe path {member.name!r}", "check the pin")
            if any(str(rel) == s or str(rel).startswith(s + "/") for s in skip):
                continue
            target = dest / rel
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
                target.chmod(0o755 if member.mode & 0o111 else 0o644)
                progress.advance()
            else:
                raise ForkError(f"{sdist.name} has an unexpected member {member.name!r}", "check the pin")


def _shared_links(root: Path, dist: Dist) -> list[tuple[Path, Path]]:
    """(copy in the sdist, monorepo source) pairs from the dist's hatch sdist force-include table."""
    pyproject = root / dist.folder / "pyproject.toml"
    if not pyproject.exists():
        return []
    data = tomllib.loads(pyproject.read_text())
    table = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("sdist", {})
    pairs = []
    for source, target in table.get("force-include", {}).items():
        if source.startswith("../"):
            resolved = (root / dist.folder / source).resolve()
            pairs.append((root / dist.folder / target, resolved))
    return pairs


def _lay_out_shared(root: Path, dist: Dist) -> None:
    """Move the sdist's copies of shared libraries to shared/ and link them, as the monorepo does."""
    for copy, source in _shared_links(root, dist):
        if not copy.is_dir():
            continue
        if source.exists():
            if not _same_tree(copy, source):
                raise ForkError(
                    f"{dist.name} ships a copy of {source.relative_to(root)} that differs from another "
                    "distribution's",
                    "pin releases that share their libraries",
                )
            shutil.rmtree(copy)
        else:
            source.parent.mkdir(parents=True, exist_ok=True)
            copy.rename(source)
        copy.symlink_to(os.path.relpath(source, copy.parent))


def _same_tree(a: Path, b: Path) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)


def build_base(ws: Workspace, pins: Pins, dest: Path) -> str:
    """Create the base commit in a new repo at dest; return its commit id."""
    progress = Progress("unpacking sdists", unit=" files")
    for dist in pins.dists:
        sdist = fetch(dist.project, dist.sdist_filename, dist.sdist_sha256, ws.downloads)
        _extract_sdist(sdist, dist, dest / dist.folder, progress)
    progress.finish()
    for dist in pins.dists:
        _lay_out_shared(dest, dist)
    git = Git(dest, date=pins.base_epoch)
    git.run("init", "--quiet", "--initial-branch", BRANCH)
    git.run("config", "core.autocrlf", "false")
    git.run("config", "core.symlinks", "true")
    git.run("add", "--all", "--force")
    git.run("commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", base_message(pins))
    git.run("tag", BASE_TAG)
    return git.out("rev-parse", "HEAD")


def series(ws: Workspace) -> list[Path]:
    """The patches in order, as listed in patches/series (every listed file must exist)."""
    listing = ws.patches / SERIES_FILE
    if not listing.exists():
        return []
    names = [line.strip() for line in listing.read_text().splitlines()]
    paths = [ws.patches / name for name in names if name and not name.startswith("#")]
    for path in paths:
        if not path.is_file():
            raise ForkError(f"patches/series lists {path.name}, which does not exist", "run ./fork export")
    return paths


@dataclass(frozen=True)
class ApplyFailure:
    patch: str
    hunks: list[str]


def _failed_hunks(git: Git, patch: Path) -> list[str]:
    proc = git.run("apply", "--check", "--verbose", str(patch), check=False)
    text = proc.stderr.decode(errors="replace")
    hunks = [
        f"{m.group(1)} (hunk at line {m.group(2)})" for m in re.finditer(r"patch failed: (.+):(\d+)", text)
    ]
    hunks += [
        m.group(1) for m in re.finditer(r"error: (.+?): (?:does not exist in index|No such file)", text)
    ]
    hunks += [f"{m.group(1)} (already exists)" for m in re.finditer(r"error: (.+?): already exists", text)]
    return hunks or [text.strip().splitlines()[-1] if text.strip() else "unknown reason"]


def apply_series(git: Git, patches: list[Path]) -> None:
    """git am each patch as one commit; on a conflict stop, name patch, files and hunks, leave the tree."""
    for patch in patches:
        proc = git.run("am", "--quiet", *AM_OPTIONS, str(patch), check=False)
        if proc.returncode != 0:
            failure = ApplyFailure(patch.name, _failed_hunks(git, patch))
            raise ForkError(
                f"patch {failure.patch} does not apply: {'; '.join(failure.hunks)}",
                f"resolve in {git.repo} and run `git -C {git.repo} am --continue` then ./fork export, "
                f"or `git -C {git.repo} am --abort`",
            )


def is_materialized(ws: Workspace) -> bool:
    return (ws.tree / ".git").is_dir()


def materialize(ws: Workspace, pins: Pins, force: bool = False, base_only: bool = False) -> str:
    """Create the tree (base commit plus the series); return HEAD. Refuses to drop unexported work."""
    if is_materialized(ws):
        if not force:
            raise ForkError(
                f"{ws.tree} already exists", "use ./fork apply, or materialize --force to rebuild"
            )
        problems = unexported(ws)
        if problems:
            raise ForkError(
                f"{ws.tree} has unexported work ({problems[0]})",
                "run ./fork export first, or delete the tree",
            )
    ws.state.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="tree-", dir=ws.state))
    try:
        commit = build_base(ws, pins, staging)
        say(f"base commit {commit}")
        if not base_only:
            apply_series(Git(staging), series(ws))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if ws.tree.exists():
        shutil.rmtree(ws.tree)
    staging.rename(ws.tree)
    return Git(ws.tree).out("rev-parse", "HEAD")


def ensure_tree(ws: Workspace, pins: Pins) -> Git:
    if not is_materialized(ws):
        materialize(ws, pins)
    return Git(ws.tree)


def reapply(ws: Workspace, pins: Pins, force: bool = False) -> str:
    """Reset the tree to the base and apply the series in patches/ again."""
    git = ensure_tree(ws, pins)
    problems = unexported(ws)
    if problems and not force:
        raise ForkError(
            f"{ws.tree} has unexported work ({problems[0]})", "run ./fork export first, or --force"
        )
    if (ws.tree / ".git" / "rebase-apply").exists():
        git.run("am", "--abort")
    git.run("checkout", "--quiet", "--force", "-B", BRANCH, BASE_TAG)
    git.run("clean", "-fdq")
    apply_series(git, series(ws))
    return git.out("rev-parse", "HEAD")


def format_patches(git: Git, out: Path) -> list[Path]:
    git.run("format-patch", "--quiet", *FORMAT_PATCH_OPTIONS, "-o", str(out), f"{BASE_TAG}..HEAD")
    return sorted(out.glob("*.patch"))


def export(ws: Workspace) -> list[str]:
    """Write the tree's commits to patches/ and patches/series; return the names of changed files."""
    git = Git(ws.tree)
    if (ws.tree / ".git" / "rebase-apply").exists():
        raise ForkError(
            "a `git am` is in progress in the tree", "finish it (am --continue) or abort it first"
        )
    if git.out("status", "--porcelain"):
        say("warning: uncommitted changes in the tree are not exported; commit them first")
    changed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p.read_bytes() for p in format_patches(git, Path(tmp))}
    ws.patches.mkdir(exist_ok=True)
    for name, content in fresh.items():
        target = ws.patches / name
        if not target.exists() or target.read_bytes() != content:
            target.write_bytes(content)
            changed.append(name)
    for stale in ws.patches.glob("*.patch"):
        if stale.name not in fresh:
            stale.unlink()
            changed.append(stale.name)
    listing = "".join(f"{name}\n" for name in sorted(fresh))
    series_path = ws.patches / SERIES_FILE
    if not series_path.exists() or series_path.read_text() != listing:
        series_path.write_text(listing)
        changed.append(SERIES_FILE)
    return changed


def stale_exports(ws: Workspace, pins: Pins) -> list[str]:
    """The files of patches/ that re-exporting the freshly applied series would change (empty: none).

    The series is applied to a new base commit in a scratch tree (the work tree is not used), then
    exported as `./fork export` does; every patch whose bytes differ, appears or disappears is named,
    and `series` when its listing would change.
    """
    listed = series(ws)
    ws.state.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="export-check-", dir=ws.state) as tmp:
        scratch = Path(tmp) / "tree"
        build_base(ws, pins, scratch)
        git = Git(scratch)
        apply_series(git, listed)
        fresh = {p.name: p.read_bytes() for p in format_patches(git, Path(tmp) / "out")}
    exported = {p.name: p.read_bytes() for p in ws.patches.glob("*.patch")}
    stale = sorted(name for name in fresh.keys() | exported.keys() if fresh.get(name) != exported.get(name))
    listing = "".join(f"{name}\n" for name in sorted(fresh))
    series_path = ws.patches / SERIES_FILE
    if (series_path.read_text() if series_path.exists() else "") != listing:
        stale.append(SERIES_FILE)
    return stale


def unexported(ws: Workspace) -> list[str]:
    """Why the tree differs from patches/ (empty when everything is exported)."""
    if not is_materialized(ws):
        return []
    git = Git(ws.tree)
    problems = []
    if (ws.tree / ".git" / "rebase-apply").exists():
        problems.append("a git am is in progress")
    if git.out("status", "--porcelain"):
        problems.append("uncommitted changes in the tree")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p.read_bytes() for p in format_patches(git, Path(tmp))}
    exported = {p.name: p.read_bytes() for p in series(ws)}
    # The tree may lag behind patches/ (patches not applied yet); it is ahead when a commit differs.
    new = [name for name, content in fresh.items() if exported.get(name) != content]
    if new:
        problems.append(f"commits not in patches/: {', '.join(new)}")
    return problems


def applied_patches(ws: Workspace) -> dict[str, bool]:
    """For each patch in the series: is an equivalent commit (same patch-id) in the tree?"""
    git = Git(ws.tree)
    commits = git.out("rev-list", "--reverse", f"{BASE_TAG}..HEAD").split()
    # --binary as in FORMAT_PATCH_OPTIONS: without it a binary file is "Binary files differ" and the
    # commit's patch-id never equals that of its exported patch.
    in_tree = {_patch_id(git, git.run("show", "--binary", "--full-index", c).stdout) for c in commits}
    return {p.name: _patch_id(git, p.read_bytes()) in in_tree for p in series(ws)}


def _patch_id(git: Git, diff: bytes) -> str:
    out = git.run("patch-id", "--stable", input=diff).stdout.decode().split()
    return out[0] if out else ""


def touched_paths(git: Git) -> list[str]:
    return git.out("diff", "--name-only", f"{BASE_TAG}..HEAD").splitlines()
