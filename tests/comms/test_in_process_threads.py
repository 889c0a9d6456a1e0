"""Under plain ``dag.test()`` a task's threads keep reaching the in-process supervisor while another of
its requests is being served: no failed checkpoint write, no lost terminal state, a summary for every
``.iterate()`` task (a fresh user's report: each of these failed in 3 of 3 runs before)."""

from __future__ import annotations

import pytest

DAG_ID = "in_process_threads"

pytestmark = pytest.mark.timeout(600)


def test_task_threads_reach_the_in_process_supervisor_while_a_request_is_served(dag_test_in_process):
    run = dag_test_in_process(DAG_ID)
    out = run.output
    assert run.tis == {
        "set_variable": "success",
        "read_variable": "success",
        "check": "success",
        "checkpointed": "success",
        "one_item_fails": "failed",
    }, out[-4000:]
    for symptom in ("Could not write iterate checkpoint", "Failed to report terminal", "SUPERVISOR_COMMS"):
        assert symptom not in out, out[-4000:]
    assert out.count("Task progress summary") == 3, out[-4000:]
