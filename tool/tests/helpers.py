from __future__ import annotations

from pathlib import Path

from forktool.series.git import Git

SAMPLE_FILE = "task-sdk/src/airflow/sdk/execution_time/timeout.py"
CRLF_FILE = "providers/standard/docs/operators/hitl.rst"


def commit_sample_change(tree: Path, message: str = "Add a sample change\n\nBody of the sample.") -> None:
    """A commit in upstream's style: one code line and one line in a CRLF docs file."""
    code = tree / SAMPLE_FILE
    code.write_text(code.read_text() + "\n# sample change\n")
    docs = tree / CRLF_FILE
    docs.write_bytes(docs.read_bytes() + b"Sample line with CRLF.\r\n")
    git = Git(tree)
    git.run("add", "-A")
    git.run("commit", "-q", "-m", message)
