"""Open an upstream branch: apply the series onto a user's own apache/airflow clone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forktool.errors import ForkError
from forktool.series.git import Git, isolated_env


@dataclass(frozen=True)
class BranchResult:
    applied: list[str]
    needs_rebase: list[str]


def apply_to_clone(clone: Path, branch: str, onto: str, patches: list[Path]) -> BranchResult:
    """Create `branch` at `onto` in the clone and `git am -3` each patch; a patch that does not apply
    is skipped (its `am` aborted) and reported as needing a manual rebase."""
    if not (clone / ".git").exists():
        raise ForkError(f"{clone} is not a git clone", "pass the path of your apache/airflow clone")
    git = Git(clone)
    # Commits in the user's clone are theirs: keep their identity, only isolate formatting settings.
    user_env = isolated_env()
    for key in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_CONFIG_GLOBAL",
    ):
        user_env.pop(key)
    git.env = user_env
    if git.out("status", "--porcelain", "--untracked-files=no"):
        raise ForkError(f"{clone} has uncommitted changes", "commit or stash them first")
    if git.ok("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"):
        raise ForkError(f"branch {branch} already exists in {clone}", "pick another --branch or delete it")
    if not git.ok("rev-parse", "--verify", "--quiet", f"{onto}^{{commit}}"):
        raise ForkError(f"{onto!r} is not a commit in {clone}", "fetch it first or pass --onto")
    git.run("checkout", "--quiet", "-b", branch, onto)
    applied, needs_rebase = [], []
    for patch in patches:
        if git.run("am", "--quiet", "-3", "--keep-cr", str(patch), check=False).returncode == 0:
            applied.append(patch.name)
        else:
            git.run("am", "--abort", check=False)
            needs_rebase.append(patch.name)
    return BranchResult(applied, needs_rebase)
