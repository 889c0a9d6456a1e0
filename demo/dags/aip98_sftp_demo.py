"""The seed's scenario: one async task downloads a whole SFTP tree through the fork's connection pool.

`./fork demo` starts a loopback OpenSSH server with a generated data set, points the ``sftp_demo``
connection at it and passes the remote and local directories as DAG run conf.
"""

from __future__ import annotations

import time

from airflow.providers.sftp.pools import transfer
from airflow.providers.sftp.pools.sftp import SFTPClientPool
from airflow.sdk import dag, task


@dag(schedule=None, catchup=False, tags=["aip98", "demo", "sftp"])
def aip98_sftp_demo():
    @task
    async def download_all(dag_run=None) -> dict[str, float]:
        """Every file of the remote tree, many in flight at once over a few pooled connections."""
        conf = dag_run.conf
        pool = SFTPClientPool("sftp_demo")
        started = time.monotonic()
        try:
            result = await transfer.get_directory(pool, conf["remote_dir"], conf["local_dir"])
        finally:
            await pool.close()
        seconds = time.monotonic() - started
        print(f"downloaded {len(result.files)} files, {result.bytes / 1e6:.1f} MB in {seconds:.1f}s")
        return {"files": len(result.files), "bytes": result.bytes, "seconds": round(seconds, 2)}

    download_all()


aip98_sftp_demo()
