"""One DAG run through the LocalExecutor and the real Task SDK supervisor, in the environment under test.

Run by ``AirflowStack.run_dag`` with that environment's interpreter, as a script (it needs no forktool
on sys.path): ``python run_dag.py DAGS_FOLDER DAG_ID CONF_JSON``. It runs ``dag.test(use_executor=True)``
and prints one line ``DAGRUN-RESULT {json}`` with the run's id, state, each task instance's state and
duration (keys ``task_id`` or ``task_id[map_index]``) and the wall time in seconds, then exits at once.
"""

import json
import os
import sys
import threading
import time
from typing import Any

if __name__ == "__main__":
    # Airflow resolves as it did when this program ran under `python -c`: the working directory first
    # on sys.path, not this folder (whose modules are the tool's and must not shadow the environment's).
    sys.path[0] = ""

from airflow.dag_processing.dagbag import DagBag  # after the sys.path fix above
from airflow.executors.local_executor import LocalExecutor

_end = LocalExecutor.end


def _bounded_end(self: Any) -> None:
    """LocalExecutor.end() waits forever when a worker died while reading the work queue (seen under
    load, after the run had finished). The run's outcome is decided by then, so bound the wait and say so."""
    waiter = threading.Thread(target=_end, args=(self,), daemon=True)
    waiter.start()
    waiter.join(60)
    if waiter.is_alive():
        print("HARNESS: LocalExecutor.end() did not return within 60 s; workers left behind", file=sys.stderr)


def main(dags_folder: str, dag_id: str, conf_json: str) -> None:
    LocalExecutor.end = _bounded_end
    dag = DagBag(dag_folder=dags_folder).get_dag(dag_id)
    conf = json.loads(conf_json)
    started = time.monotonic()
    run = dag.test(use_executor=True, run_conf=conf or None)
    tis, durations = {}, {}
    for ti in run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        tis[key] = ti.state
        durations[key] = ti.duration
    result = {
        "run_id": run.run_id,
        "state": run.state,
        "tis": tis,
        "durations": durations,
        "seconds": time.monotonic() - started,
    }
    print("DAGRUN-RESULT " + json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)  # do not wait for executor workers at interpreter exit (see _bounded_end)


if __name__ == "__main__":
    main(*sys.argv[1:4])
