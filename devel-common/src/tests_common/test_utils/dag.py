# Licensed to the Apache Software Foundation (ASF) under one
# or more contributor license agreements.  See the NOTICE file
# distributed with this work for additional information
# regarding copyright ownership.  The ASF licenses this file
# to you under the Apache License, Version 2.0 (the
# "License"); you may not use this file except in compliance
# with the License.  You may obtain a copy of the License at
#
#   http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing,
# software distributed under the License is distributed on an
# "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
# KIND, either express or implied.  See the License for the
# specific language governing permissions and limitations
# under the License.
"""Turn SDK dags into scheduler-side dags, optionally persisting them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests_common.test_utils.compat import DagSerialization, SerializedDAG

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from sqlalchemy.orm import Session

    from airflow.sdk import DAG


def create_scheduler_dag(dag: DAG | SerializedDAG) -> SerializedDAG:
    """Round-trip an SDK dag through serialization, as the scheduler would see it."""
    if isinstance(dag, SerializedDAG):
        return dag
    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))


def sync_dag_to_db(
    dag: DAG,
    bundle_name: str = "testing",
    bundle_version: str | None = None,
    session: Session | None = None,
) -> SerializedDAG:
    """Persist one dag (DagModel + SerializedDagModel) and return its scheduler-side form."""
    return sync_dags_to_db([dag], bundle_name=bundle_name, bundle_version=bundle_version, session=session)[0]


def sync_dags_to_db(
    dags: Collection[DAG],
    bundle_name: str = "testing",
    bundle_version: str | None = None,
    session: Session | None = None,
) -> Sequence[SerializedDAG]:
    """Persist ``dags`` and return their scheduler-side forms in the input order."""
    if session is None:
        from airflow.utils.session import create_session

        with create_session() as own_session:
            return _sync(dags, bundle_name, bundle_version, own_session)
    return _sync(dags, bundle_name, bundle_version, session)


def _sync(
    dags: Collection[DAG], bundle_name: str, bundle_version: str | None, session: Session
) -> list[SerializedDAG]:
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.serialization.serialized_objects import LazyDeserializedDAG

    session.merge(DagBundleModel(name=bundle_name))
    session.flush()
    SerializedDAG.bulk_write_to_db(bundle_name, bundle_version, dags, session=session)
    for dag in dags:
        SerializedDagModel.write_dag(
            LazyDeserializedDAG(data=DagSerialization.to_dict(dag)),
            bundle_name,
            bundle_version,
            session=session,
        )
    session.flush()

    result: list[SerializedDAG] = []
    for dag in dags:
        row = SerializedDagModel.get(dag.dag_id, session=session)
        if row is None:
            raise RuntimeError(f"Serialized dag {dag.dag_id!r} was not written")
        session.refresh(row, attribute_names=["_data", "_data_compressed"])
        # Drop the decoded-dag cache: it is not a mapped column and survives refresh().
        row._SerializedDagModel__data_cache = None
        result.append(row.dag)
    return result
