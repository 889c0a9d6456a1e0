"""Async and sync tasks through the real supervisor: forked task processes, execution API, XCom."""

from __future__ import annotations


def test_async_value_reaches_downstream_through_xcom(stack):
    result = stack.run_dag("supervised_basics")
    assert result.state == "success", result.output[-4000:]
    assert result.tis == {"async_value": "success", "sync_check": "success"}
    log = stack.task_log("supervised_basics", result.run_id, "sync_check")
    assert "Done. Returned value was: 43" in log
