"""Print the newest run of a DAG and each task's XCom return value, read from the Airflow database."""

from __future__ import annotations

import sys

from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select


def main(dag_id: str) -> int:
    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).first()
        if run is None:
            print(f"no run of {dag_id} found")
            return 1
        print(f"DAG run {run.run_id}: {run.state}")
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        for ti in sorted(tis, key=lambda t: t.start_date or run.start_date):
            xcom = session.scalars(
                XComModel.get_many(run_id=run.run_id, key="return_value", dag_ids=dag_id, task_ids=ti.task_id)
            ).first()
            value = XComModel.deserialize_value(xcom) if xcom is not None else None
            print(f"  {ti.task_id}: {ti.state}, returned {value!r}")
        return 0 if run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
