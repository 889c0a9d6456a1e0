"""Benchmark DAG of `./fork bench sftp --mapped N`: one mapped SFTPOperator task instance per file.

conf: {"src": remote directory, "dest": local directory, "files": [paths relative to src]}.
The connection is sftp_bench (AIRFLOW_CONN_SFTP_BENCH).
"""

from __future__ import annotations

from airflow.providers.sftp.operators.sftp import SFTPOperator
from airflow.sdk import dag, get_current_context, task


@dag(schedule=None, catchup=False)
def sftp_mapped() -> None:
    @task
    def pairs() -> list[dict[str, str]]:
        conf = get_current_context()["dag_run"].conf
        return [
            {"remote_filepath": f"{conf['src']}/{rel}", "local_filepath": f"{conf['dest']}/{rel}"}
            for rel in conf["files"]
        ]

    SFTPOperator.partial(
        task_id="get", ssh_conn_id="sftp_bench", operation="get", create_intermediate_dirs=True
    ).expand_kwargs(pairs())


sftp_mapped()
