"""SFTP operators through the real supervisor: SFTPBulkOperator on the task's loop and SFTPOperator
iterated in one task instance (fork-owned integration tests; the connection comes from the test's env)."""

from __future__ import annotations

from airflow.providers.sftp.operators.sftp import SFTPBulkOperator, SFTPOperator
from airflow.sdk import DAG, task

CONN_ID = "sftp_ops"

with DAG("sftp_bulk_get", schedule=None, catchup=False, default_args={"retries": 0}):
    SFTPBulkOperator(
        task_id="bulk_get",
        ssh_conn_id=CONN_ID,
        remote_path="{{ dag_run.conf['remote_dir'] }}",
        local_path="{{ dag_run.conf['local_dir'] }}",
        concurrency=32,
        progress_interval=0.05,
    )

with DAG("sftp_operator_iterate", schedule=None, catchup=False, default_args={"retries": 0}):

    @task
    def file_pairs(**context) -> list[dict[str, str]]:
        return [
            {"remote_filepath": remote, "local_filepath": local}
            for remote, local in context["dag_run"].conf["pairs"]
        ]

    SFTPOperator.partial(
        task_id="get_each",
        ssh_conn_id=CONN_ID,
        operation="get",
        create_intermediate_dirs=True,
        iterate_concurrency=8,
        iterate_progress_interval=0,
    ).iterate_kwargs(file_pairs())
