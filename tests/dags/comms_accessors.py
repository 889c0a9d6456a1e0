"""One async task using every awaitable accessor (Variable, task state store, XCom, connection, inlet
asset events; `produce` emits the asset event it reads).

Run by tests/comms/test_comms_accessors.py through the real supervisor, plain ``dag.test()`` and
``airflow tasks test``; the task writes what it read to $FORK_TEST_RESULT.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

from airflow.sdk import DAG, Asset, BaseHook, Variable, task

CONN_ID = "comms_fork_conn"
ASSET = Asset("comms_fork_asset")

with DAG(
    dag_id="comms_accessors",
    schedule=None,
    catchup=False,
    default_args={"execution_timeout": timedelta(seconds=60), "retries": 0},
) as dag:

    @task(outlets=[ASSET])
    def produce() -> None:
        pass

    @task(inlets=[ASSET])
    async def async_accessors(ti=None, task_state_store=None, inlet_events=None) -> dict:
        res: dict = {}
        fetched = await inlet_events[ASSET].afetch()
        iterated = [event async for event in inlet_events[ASSET]]
        res["inlet_events"] = {
            "afetch_equals_async_for": [e.id for e in fetched] == [e.id for e in iterated],
            "assets": sorted({e.asset.name for e in fetched}),
        }
        await Variable.aset("comms_av", {"x": 1}, serialize_json=True)
        res["var_get"] = await Variable.aget("comms_av", deserialize_json=True)
        await Variable.adelete("comms_av")
        res["var_after_delete"] = await Variable.aget("comms_av", default="gone")

        await task_state_store.aset("cp", {"done": [1, 2, 3]})
        res["store_get"] = await task_state_store.aget("cp")
        await task_state_store.adelete("cp")
        res["store_after_delete"] = await task_state_store.aget("cp", default="gone")
        await task_state_store.aset("a", 1)
        await task_state_store.aset("b", 2)
        await task_state_store.aclear()
        res["store_after_clear"] = [
            await task_state_store.aget("a", default="cleared"),
            await task_state_store.aget("b", default="cleared"),
        ]

        await ti.axcom_push(key="pushed", value={"v": 42})
        res["xcom"] = await ti.axcom_pull(task_ids=ti.task_id, key="pushed")

        conn = await BaseHook.aget_connection(CONN_ID)
        res["conn"] = [conn.conn_id, conn.host, conn.login]
        res["pid"] = os.getpid()
        with open(os.environ["FORK_TEST_RESULT"], "w") as f:
            json.dump(res, f)
        return res

    produce() >> async_accessors()
