"""Opening an upstream branch: the series goes onto a user's clone with `git am -3`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import SAMPLE_FILE, commit_sample_change

from forktool.errors import ForkError
from forktool.series import tree
from forktool.series.git import Git
from forktool.series.upstream_branch import apply_to_clone


def make_clone(source: Path, dest: Path) -> Git:
    """A stand-in for a user's apache/airflow clone: the same files, its own history."""
    subprocess.run(["git", "clone", "-q", str(source), str(dest)], check=True)
    git = Git(dest)
    git.run("config", "user.name", "Contributor")
    git.run("config", "user.email", "contributor@example.com")
    return git


def test_series_applies_as_a_branch(workspace, tmp_path):
    commit_sample_change(workspace.tree)
    tree.export(workspace)
    clone = make_clone(workspace.tree, tmp_path / "clone")
    clone.run("checkout", "-q", "-B", "main", tree.BASE_TAG)
    result = apply_to_clone(clone.repo, "aip98-pr", "main", tree.series(workspace))
    assert result.applied == ["0001-Add-a-sample-change.patch"] and result.needs_rebase == []
    assert clone.out("rev-parse", "--abbrev-ref", "HEAD") == "aip98-pr"
    assert clone.out("log", "-1", "--format=%s") == "Add a sample change"


def test_patch_needing_rebase_is_reported(workspace, tmp_path):
    commit_sample_change(workspace.tree)
    tree.export(workspace)
    clone = make_clone(workspace.tree, tmp_path / "clone")
    clone.run("checkout", "-q", "-B", "main", tree.BASE_TAG)
    (clone.repo / SAMPLE_FILE).write_text("rewritten upstream\n")
    clone.run("commit", "-qam", "Upstream rewrote the file")
    result = apply_to_clone(clone.repo, "aip98-pr", "main", tree.series(workspace))
    assert result.needs_rebase == ["0001-Add-a-sample-change.patch"]
    assert not (clone.repo / ".git" / "rebase-apply").exists()


def test_existing_branch_is_refused(workspace, tmp_path):
    clone = make_clone(workspace.tree, tmp_path / "clone")
    with pytest.raises(ForkError, match="already exists"):
        apply_to_clone(clone.repo, "aip98", "HEAD", [])
