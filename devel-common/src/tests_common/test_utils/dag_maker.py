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
"""Implementation behind the ``dag_maker`` fixture (see ``tests_common.pytest_plugin``)."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lazy_object_proxy

from tests_common.test_utils.version_compat import NOTSET

if TYPE_CHECKING:
    import types

    from sqlalchemy.orm import Session

    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk import DAG
    from airflow.serialization.definitions.dag import SerializedDAG


def _timezone() -> Any:
    from airflow.sdk import timezone

    return timezone


class DagFactory:
    """Stateful helper returned by the ``dag_maker`` fixture; one instance per test."""

    def __init__(
        self, *, module: types.ModuleType, default_serialized: bool, default_activate_assets: bool
    ) -> None:
        self._module = module
        self._default_serialized = default_serialized
        self._default_activate_assets = default_activate_assets
        self._owns_session = False
        self._dag_ids: set[str] = set()
        self._dags: dict[str, DAG] = {}
        self.serialized_model: SerializedDagModel | None = None
        self.dag_model: Any = None
        self.dag_run: DagRun | None = None

    # -- configuration -------------------------------------------------------------------------
    def __call__(
        self,
        dag_id: str = "test_dag",
        schedule: Any = timedelta(days=1),
        serialized: bool | None = None,
        activate_assets: bool | None = None,
        fileloc: str | None = None,
        relative_fileloc: str | None = None,
        bundle_name: str | None = None,
        bundle_version: str | None = None,
        session: Session | None = None,
        **kwargs: Any,
    ) -> DagFactory:
        from sqlalchemy import select

        from airflow import settings
        from airflow.models.dagbundle import DagBundleModel
        from airflow.sdk import DAG

        if session is None:
            if settings.Session is None:
                raise RuntimeError("The Airflow ORM is not configured")
            session = settings.Session()
            self._owns_session = True
        self.session = session

        start_date = kwargs.get("start_date") or (kwargs.get("default_args") or {}).get("start_date")
        if not start_date:
            start_date = getattr(self._module, "DEFAULT_DATE", None) or _timezone().datetime(2016, 1, 1)
        kwargs["start_date"] = start_date
        self.start_date = start_date
        self.kwargs = kwargs

        self.dag = DAG(dag_id, schedule=schedule, **kwargs)
        module_file = getattr(self._module, "__file__", None) or "dag_maker.py"
        self.dag.fileloc = fileloc or module_file
        self.dag.relative_fileloc = relative_fileloc or Path(module_file).name
        self.want_serialized = self._default_serialized if serialized is None else serialized
        self.want_activate_assets = (
            self._default_activate_assets if activate_assets is None else activate_assets
        )
        self.bundle_name = bundle_name or "dag_maker"
        self.bundle_version = bundle_version

        if session.scalar(select(DagBundleModel).where(DagBundleModel.name == self.bundle_name)) is None:
            session.add(DagBundleModel(name=self.bundle_name))
            session.commit()
        return self

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> Any:
        self.serialized_model = None
        self.dag.__enter__()
        if not self.want_serialized:
            return self.dag
        factory = self

        class SerializedDagProxy(lazy_object_proxy.Proxy):
            """Looks like the serialized dag; still supports ``@dag.task`` and adding tasks."""

            task = factory.dag.task

            def add_task(self, task: Any) -> None:
                factory.dag.add_task(task)
                factory._write_dag(factory.dag)

        return SerializedDagProxy(lambda: self.serialized_dag)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from airflow.models import DagModel

        self.dag.__exit__(exc_type, exc, tb)
        if exc_type is not None:
            return
        self._write_dag(self.dag)
        self.dag_model = self.session.get(DagModel, self.dag.dag_id)
        self.session.commit()

    # -- persistence ---------------------------------------------------------------------------
    @property
    def serialized_dag(self) -> SerializedDAG:
        if self.serialized_model is None:
            raise RuntimeError("The dag has not been written yet; leave the `with dag_maker()` block first")
        return self.serialized_model.dag

    def get_serialized_data(self) -> dict[str, Any]:
        if self.serialized_model is None:
            raise RuntimeError("DAG serialization was not requested")
        data = self.serialized_model.data
        return json.loads(data) if isinstance(data, str) else data

    def sync_dag_to_db(self) -> None:
        self._write_dag(self.dag)

    def _activate_assets(self) -> None:
        from sqlalchemy import or_, select

        from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
        from airflow.models.asset import (
            AssetModel,
            DagScheduleAssetReference,
            TaskInletAssetReference,
            TaskOutletAssetReference,
        )

        dag_id = self.dag.dag_id
        referenced = (
            select(AssetModel.name, AssetModel.uri)
            .where(
                or_(
                    AssetModel.scheduled_dags.any(DagScheduleAssetReference.dag_id == dag_id),
                    AssetModel.consuming_tasks.any(TaskInletAssetReference.dag_id == dag_id),
                    AssetModel.producing_tasks.any(TaskOutletAssetReference.dag_id == dag_id),
                )
            )
            .cte()
        )
        SchedulerJobRunner._activate_referenced_assets(referenced, session=self.session)

    def _write_dag(self, dag: DAG) -> None:
        from sqlalchemy import select

        from airflow.models.dag_version import DagVersion
        from airflow.models.dagcode import DagCode
        from airflow.models.serialized_dag import SerializedDagModel
        from airflow.serialization.definitions.dag import SerializedDAG
        from airflow.serialization.serialized_objects import LazyDeserializedDAG

        self._dag_ids.add(dag.dag_id)
        self._dags[dag.dag_id] = dag
        candidate = SerializedDagModel(LazyDeserializedDAG.from_dag(dag))
        existing = self.session.scalar(
            select(SerializedDagModel).where(
                SerializedDagModel.dag_id == dag.dag_id,
                SerializedDagModel.dag_hash == candidate.dag_hash,
            )
        )
        SerializedDAG.bulk_write_to_db(self.bundle_name, self.bundle_version, [dag], session=self.session)
        if existing is None:
            version = DagVersion.write_dag(
                dag_id=dag.dag_id,
                bundle_name=self.bundle_name,
                bundle_version=self.bundle_version,
                session=self.session,
            )
            self.session.add(version)
            self.session.flush()
            self.session.merge(DagCode(version, dag.fileloc, "Source"))
            candidate.dag_version = version
            if self.want_activate_assets:
                self._activate_assets()
            self.serialized_model = self.session.merge(candidate)
        else:
            # Same structure as what is stored: keep the stored row but with freshly decoded data.
            existing._SerializedDagModel__data_cache = candidate._SerializedDagModel__data_cache  # type: ignore[attr-defined]
            existing._data = candidate._data
            self.serialized_model = existing
        self.session.flush()

    def sync_dagbag_to_db(self) -> None:
        """Write every dag this factory has built to the DB through the dag-processor code path."""
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

        bag = DagBag(dag_folder=os.devnull, collect_dags=False)
        for dag in self._dags.values():
            bag.bag_dag(dag)
        sync_bag_to_db(bag, self.bundle_name, None, session=self.session)

    # -- runs and task instances ---------------------------------------------------------------
    def create_dagrun(self, *, logical_date: Any = NOTSET, **kwargs: Any) -> DagRun:
        from airflow.models.dag import infer_automated_data_interval
        from airflow.utils.state import DagRunState
        from airflow.utils.types import DagRunTriggeredByType, DagRunType

        tz = _timezone()
        if "execution_date" in kwargs:
            logical_date = kwargs.pop("execution_date")
        dag = self.serialized_dag
        run_type = kwargs.get("run_type", DagRunType.MANUAL)
        if not isinstance(run_type, DagRunType):
            run_type = DagRunType(run_type)

        if logical_date is NOTSET:
            if run_type == DagRunType.MANUAL:
                logical_date = self.start_date
            else:
                info = dag.next_dagrun_info(last_automated_run_info=None)
                logical_date = info.logical_date if info is not None else self.start_date
        if logical_date is not None:
            logical_date = tz.coerce_datetime(logical_date)

        if "data_interval" in kwargs:
            data_interval = kwargs["data_interval"]
        elif logical_date is None:
            data_interval = None
        elif run_type == DagRunType.MANUAL:
            data_interval = dag.timetable.infer_manual_data_interval(run_after=logical_date)
        else:
            data_interval = infer_automated_data_interval(dag.timetable, logical_date)

        params: dict[str, Any] = {
            "state": DagRunState.RUNNING,
            "start_date": self.start_date,
            "session": self.session,
            **kwargs,
        }
        params["data_interval"] = data_interval
        params["run_type"] = run_type
        params["logical_date"] = logical_date
        params.setdefault("triggered_by", DagRunTriggeredByType.TEST)
        if params.get("run_after") is None:
            params["run_after"] = data_interval[-1] if data_interval else tz.utcnow()
        if "run_id" not in kwargs:
            if "run_type" not in kwargs:
                params["run_id"] = "test"
            else:
                params["run_id"] = dag.timetable.generate_run_id(
                    run_type=run_type,
                    run_after=logical_date or tz.coerce_datetime(tz.utcnow()),
                    data_interval=data_interval,
                )

        self.dag_run = dag.create_dagrun(**params)
        for ti in self.dag_run.task_instances:
            ti.refresh_from_task(dag.get_task(ti.task_id))
        self.session.commit()
        return self.dag_run

    def create_dagrun_after(self, dagrun: DagRun, **kwargs: Any) -> DagRun:
        sdag = self.serialized_dag
        last = sdag.timetable.run_info_from_dag_run(dag_run=dagrun)
        following = sdag.next_dagrun_info(last_automated_run_info=last)
        if following is None:
            raise ValueError(f"No run can follow {dagrun}")
        return self.create_dagrun(
            logical_date=following.logical_date, data_interval=following.data_interval, **kwargs
        )

    def create_ti(
        self,
        task_id: str,
        dag_run: DagRun | None = None,
        dag_run_kwargs: dict[str, Any] | None = None,
        map_index: int = -1,
    ) -> TaskInstance:
        if dag_run is None:
            dag_run = self.create_dagrun(**(dag_run_kwargs or {}))
        ti = dag_run.get_task_instance(task_id=task_id, map_index=map_index)
        if ti is None:
            known = [task.task_id for task in self.dag.tasks]
            raise ValueError(f"No task instance for {task_id!r} in the dag run; tasks: {known}")
        ti.refresh_from_task(self.serialized_dag.get_task(task_id))
        return ti

    def run_ti(
        self,
        task_id: str,
        dag_run: DagRun | None = None,
        dag_run_kwargs: dict[str, Any] | None = None,
        map_index: int = -1,
        **kwargs: Any,
    ) -> TaskInstance:
        from tests_common.test_utils.taskinstance import run_task_instance

        task = self.dag.get_task(task_id)
        ti = self.create_ti(task_id, dag_run=dag_run, dag_run_kwargs=dag_run_kwargs, map_index=map_index)
        run_task_instance(ti, task, **kwargs)
        return ti

    # -- teardown ------------------------------------------------------------------------------
    def cleanup(self) -> None:
        from sqlalchemy import delete

        from airflow.models import DagModel, DagRun, TaskInstance
        from airflow.models.asset import AssetEvent
        from airflow.models.dag_version import DagVersion
        from airflow.models.taskmap import TaskMap
        from airflow.models.xcom import XComModel

        if not self._dag_ids or not hasattr(self, "session"):
            return
        ids = list(self._dag_ids)
        session = self.session
        session.rollback()
        for model, column in (
            (DagRun, DagRun.dag_id),
            (TaskInstance, TaskInstance.dag_id),
            (DagVersion, DagVersion.dag_id),
            (XComModel, XComModel.dag_id),
            (DagModel, DagModel.dag_id),
            (TaskMap, TaskMap.dag_id),
            (AssetEvent, AssetEvent.source_dag_id),
        ):
            session.execute(delete(model).where(column.in_(ids)))
        session.commit()
        if self._owns_session:
            session.expunge_all()
            session.close()
