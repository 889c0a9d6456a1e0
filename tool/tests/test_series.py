"""Materialize, apply, export: the patch series round trip and its failure modes."""

from __future__ import annotations

import re
import shutil

import pytest
from helpers import CRLF_FILE, SAMPLE_FILE, commit_sample_change

from forktool.errors import ForkError
from forktool.series import pins as pins_mod
from forktool.series import tree
from forktool.series.git import Git


def test_base_commit_is_deterministic(workspace, base_tree):
    """Two materializations (here: session base vs a fresh one) give the same commit id."""
    fresh = workspace.root / "again"
    commit = tree.build_base(workspace, pins_mod.load(workspace.pins_file), fresh)
    assert commit == Git(base_tree).out("rev-parse", "HEAD")
    assert (fresh / "task-sdk/src/airflow/sdk/_shared/timezones").is_symlink()
    assert (fresh / "shared/timezones/src/airflow_shared/timezones/__init__.py").is_file()
    assert not (fresh / "task-sdk/PKG-INFO").exists()
    assert not (fresh / "airflow-core/src/airflow/ui/dist").exists()


def test_round_trip_export_equals_input(workspace, tmp_path, downloads):
    commit_sample_change(workspace.tree)
    assert tree.export(workspace) == ["0001-Add-a-sample-change.patch", "series"]
    patch = workspace.patches / "0001-Add-a-sample-change.patch"
    original = patch.read_bytes()
    assert b"Sample line with CRLF.\r\n" in original
    assert b"From 0000000000000000000000000000000000000000" in original

    # A second workspace materializes base + the exported patch, then exports again.
    from conftest import new_workspace

    other = new_workspace(tmp_path / "other", downloads)
    shutil.copytree(workspace.patches, other.patches, dirs_exist_ok=True)
    tree.materialize(other, pins_mod.load(other.pins_file))
    assert (other.tree / CRLF_FILE).read_bytes().endswith(b"Sample line with CRLF.\r\n")
    assert tree.export(other) == []
    assert (other.patches / patch.name).read_bytes() == original
    assert tree.unexported(other) == []
    assert tree.applied_patches(other) == {patch.name: True}


def test_export_of_unchanged_tree_changes_no_file(workspace):
    commit_sample_change(workspace.tree)
    tree.export(workspace)
    stats = {p.name: p.stat().st_mtime_ns for p in workspace.patches.iterdir()}
    assert tree.export(workspace) == []
    assert {p.name: p.stat().st_mtime_ns for p in workspace.patches.iterdir()} == stats


def test_unexported_work_is_reported_and_protected(workspace):
    commit_sample_change(workspace.tree)
    assert any("commits not in patches/" in p for p in tree.unexported(workspace))
    with pytest.raises(ForkError, match="unexported work"):
        tree.reapply(workspace, pins_mod.load(workspace.pins_file))
    tree.export(workspace)
    assert tree.unexported(workspace) == []
    (workspace.tree / SAMPLE_FILE).write_text("edited\n")
    assert "uncommitted changes in the tree" in tree.unexported(workspace)


def test_conflicting_patch_names_patch_file_and_hunk(workspace):
    commit_sample_change(workspace.tree)
    tree.export(workspace)
    git = Git(workspace.tree)
    git.run("reset", "-q", "--hard", tree.BASE_TAG)
    target = workspace.tree / SAMPLE_FILE
    target.write_text(target.read_text() + "\n# a conflicting line\n")
    git.run("commit", "-qam", "Conflicting base change")
    git.run("tag", "-f", tree.BASE_TAG)
    with pytest.raises(ForkError) as info:
        tree.apply_series(git, tree.series(workspace))
    message = str(info.value)
    assert "0001-Add-a-sample-change.patch does not apply" in message
    assert SAMPLE_FILE in message and "hunk at line" in message
    assert (workspace.tree / ".git" / "rebase-apply").is_dir(), "the tree is left inspectable"


def test_series_lists_missing_patch(workspace):
    (workspace.patches / "series").write_text("0001-missing.patch\n")
    with pytest.raises(ForkError, match=r"0001-missing\.patch, which does not exist"):
        tree.series(workspace)


def test_status_sees_an_applied_patch_with_a_binary_file(workspace, fork_cli):
    """A patch carrying a binary file (as 0009 carries a PNG) is reported applied, not "[ ]"."""
    image = workspace.tree / "task-sdk/docs/img/sample.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    git = Git(workspace.tree)
    git.run("add", "-A")
    git.run("commit", "-q", "-m", "Add a sample image")
    assert tree.export(workspace) == ["0001-Add-a-sample-image.patch", "series"]
    assert b"GIT binary patch" in (workspace.patches / "0001-Add-a-sample-image.patch").read_bytes()
    assert tree.applied_patches(workspace) == {"0001-Add-a-sample-image.patch": True}
    proc = fork_cli(workspace, "status")
    assert proc.returncode == 0, proc.stderr
    assert "  [x] 0001-Add-a-sample-image.patch" in proc.stdout.splitlines()


def test_export_check_names_a_hand_edited_patch(workspace, fork_cli):
    """`export --check` re-applies the series to a fresh base and fails on any byte that would change."""
    commit_sample_change(workspace.tree)
    tree.export(workspace)
    pins = pins_mod.load(workspace.pins_file)
    assert tree.stale_exports(workspace, pins) == []
    proc = fork_cli(workspace, "export", "--check")
    assert proc.returncode == 0, proc.stderr

    # A hand edit that still applies: an abbreviated index line, as a plain `git format-patch` writes.
    patch = workspace.patches / "0001-Add-a-sample-change.patch"
    text = patch.read_bytes()
    edited = re.sub(
        rb"^index ([0-9a-f]{7})[0-9a-f]{33}\.\.([0-9a-f]{7})[0-9a-f]{33}",
        rb"index \1..\2",
        text,
        count=1,
        flags=re.MULTILINE,
    )
    assert edited != text
    patch.write_bytes(edited)
    assert tree.stale_exports(workspace, pins) == [patch.name]
    proc = fork_cli(workspace, "export", "--check")
    assert proc.returncode == 2
    assert proc.stdout.splitlines() == [f"stale  {patch.name}"]
    assert "changes 1 file(s) in patches/: 0001-Add-a-sample-change.patch" in proc.stderr
    assert patch.read_bytes() == edited, "the check writes nothing"

    # The listing is checked too: export writes it without comments.
    patch.write_bytes(text)
    (workspace.patches / "series").write_text(f"# a hand-written comment\n{patch.name}\n")
    assert tree.stale_exports(workspace, pins) == ["series"]
