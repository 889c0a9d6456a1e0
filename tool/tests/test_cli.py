"""Errors are one line that says what to do, with a non-zero exit; stdout stays machine-readable."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from forktool.cli import parser
from forktool.errors import ForkError
from forktool.stack.sshd import Sshd


def test_unknown_command(fork_cli, empty_workspace):
    proc = fork_cli(empty_workspace, "frobnicate")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "fork: error: unknown command 'frobnicate' (run ./fork help for the commands)"
    ]


def test_export_without_tree(fork_cli, empty_workspace):
    proc = fork_cli(empty_workspace, "export")
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"fork: error: {empty_workspace.tree} does not exist (run ./fork materialize first)"
    )


def test_tampered_pin(fork_cli, empty_workspace, tmp_path: Path):
    """A pin that does not match the cached (or downloaded) sdist is refused with a one-line error."""
    text = (empty_workspace.pins_file).read_text()
    good = "d9a1c7785684a215df3927b028a44b2b6927dacebd54c0d281b5906febc3efef"
    (empty_workspace.pins_file).write_text(text.replace(good, "f" * 64))
    proc = fork_cli(empty_workspace, "materialize")
    assert proc.returncode == 2
    error = [line for line in proc.stderr.splitlines() if line.startswith("fork: error:")]
    assert len(error) == 1 and "corrupt or has been tampered with" in error[0]
    assert not empty_workspace.tree.exists(), "nothing is half-written"
    assert not list(empty_workspace.state.glob("tree-*"))


def test_patch_that_does_not_apply(fork_cli, workspace):
    (workspace.patches / "0001-bad.patch").write_text(
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        "From: Someone <someone@example.com>\nDate: Mon, 1 Jan 2026 00:00:00 +0000\n"
        "Subject: [PATCH] Bad\n\n---\n"
        "diff --git a/task-sdk/README.md b/task-sdk/README.md\n"
        "--- a/task-sdk/README.md\n+++ b/task-sdk/README.md\n"
        "@@ -1,1 +1,1 @@\n-this line is not in the file\n+replacement\n"
    )
    (workspace.patches / "series").write_text("0001-bad.patch\n")
    proc = fork_cli(workspace, "apply")
    assert proc.returncode == 2
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("fork: error: patch 0001-bad.patch does not apply: task-sdk/README.md")
    assert "am --continue" in error


def test_missing_git(tmp_path: Path):
    """The bootstrap refuses to run without git, in one line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    proc = subprocess.run(
        ["bash", str(REPO / "fork"), "status"],
        env={"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/")},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "fork: error: git is not installed or not on PATH (install git 2.30 or newer and run again)"
    )


def test_status_reports_unexported(fork_cli, workspace):
    from helpers import commit_sample_change

    commit_sample_change(workspace.tree)
    proc = fork_cli(workspace, "status")
    assert proc.returncode == 0
    assert "unexported: commits not in patches/: 0001-Add-a-sample-change.patch" in proc.stdout
    assert fork_cli(workspace, "export").returncode == 0
    proc = fork_cli(workspace, "status")
    assert "[x] 0001-Add-a-sample-change.patch" in proc.stdout
    assert "unexported:" not in proc.stdout


def test_sshd_refuses_a_port_in_use(tmp_path: Path):
    """A port another server holds is an error, not a silent connection to the wrong server."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ForkError, match="already in use by another process"):
            Sshd(tmp_path / "sshd", busy.getsockname()[1], "root").start()


# Every benchmark's own options and defaults, as `./fork bench NAME` had them before the sub-parsers.
BENCH_DEFAULTS = {
    "task-overhead": {"runs": 5},
    "accessors": {"reads": 10_000, "api_latency_ms": 0},
    "sftp": {
        "files": 17000,
        "put": False,
        "big": False,
        "big_mb": 1024,
        "medium_files": 10,
        "medium_mb": 100,
        "load": False,
        "profile": None,
        "rounds": 2,
        "seed": 98,
        "chart": None,
        "contenders": None,
        "subset": 200,
        "mapped": 100,
    },
    "iterate": {
        "items": "1000,100000",
        "concurrency": 16,
        "expand_max": 250,
        "progress_runs": 3,
        "checkpoints": True,
        "chart": None,
    },
}


@pytest.mark.parametrize("name", sorted(BENCH_DEFAULTS))
def test_bench_sub_parser_has_only_its_own_options(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = vars(parser().parse_args(["bench", name]))
    own = {k: v for k, v in args.items() if k not in ("command", "name", "func", "label", "python")}
    assert own == BENCH_DEFAULTS[name]
    assert args["name"] == name and args["label"] is None and args["python"] is None
    other = next(n for n in BENCH_DEFAULTS if n != name)
    foreign = "--" + next(iter(BENCH_DEFAULTS[other])).replace("_", "-")
    with pytest.raises(SystemExit):
        parser().parse_args(["bench", name, foreign, "1"])
    assert f"unrecognized arguments: {foreign}" in capsys.readouterr().err


def test_bench_options_parse_as_before() -> None:
    args = parser().parse_args(["bench", "sftp", "--profile", "--files", "2000", "--python", "3.12"])
    assert (args.profile, args.files, args.python) == ("fork-pool-1", 2000, "3.12")
    args = parser().parse_args(["bench", "accessors", "--api-latency-ms", "5", "--label", "acme.1"])
    assert (args.api_latency_ms, args.label) == (5.0, "acme.1")
    args = parser().parse_args(["bench", "iterate", "--no-checkpoints", "--chart", "out/it.png"])
    assert (args.checkpoints, args.chart, args.items) == (False, "out/it.png", "1000,100000")
