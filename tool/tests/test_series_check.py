"""./fork check-series: which modules and test files a patch brings, and imports that fail."""

from __future__ import annotations

import sys
from pathlib import Path

from forktool.series.series_check import TEST_FILE, import_errors, module_name, suite_of
from forktool.workspace import Workspace

ROOTS = ["task-sdk/src", "providers/sftp/src"]


def test_module_names_of_changed_paths():
    assert module_name("task-sdk/src/airflow/sdk/execution_time/iterate.py", ROOTS) == (
        "airflow.sdk.execution_time.iterate"
    )
    assert module_name("providers/sftp/src/airflow/providers/sftp/__init__.py", ROOTS) == (
        "airflow.providers.sftp"
    )
    assert module_name("task-sdk/tests/task_sdk/test_x.py", ROOTS) is None, "a test is not a src module"
    assert module_name("task-sdk/src/airflow/sdk/py.typed", ROOTS) is None
    assert module_name("providers/standard/src/airflow/providers/standard/x.py", ROOTS) is None


def test_test_files_and_their_suites():
    assert TEST_FILE.search("task-sdk/tests/task_sdk/execution_time/test_iterate.py")
    assert not TEST_FILE.search("task-sdk/tests/task_sdk/conftest.py")
    assert not TEST_FILE.search("task-sdk/src/airflow/sdk/test_mode.py")
    suite = suite_of("providers/sftp/tests/unit/sftp/pools/test_sftp.py")
    assert suite is not None and suite.name == "sftp" and suite.needs_sshd
    assert suite_of("airflow-core/tests/unit/test_x.py") is None, "no core suite runs here"


def test_import_errors_name_the_module_and_the_missing_name(tmp_path: Path):
    # Patch N uses a name that only patch N+1 adds: importing its module fails, with the reason.
    src = tmp_path / "src" / "pkg"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "early.py").write_text("from pkg.later import helper\n")
    (src / "later.py").write_text("")
    (src / "fine.py").write_text("VALUE = 1\n")
    ws = Workspace(tmp_path)
    errors = import_errors(ws, Path(sys.executable), [tmp_path / "src"], ["pkg.fine", "pkg.early"])
    assert errors == [
        "pkg.early: ImportError: cannot import name 'helper' from 'pkg.later' " + (f"({src / 'later.py'})")
    ]
    assert import_errors(ws, Path(sys.executable), [tmp_path / "src"], ["pkg.fine"]) == []
