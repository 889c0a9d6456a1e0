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
"""Metadata-database helpers: one-time initialisation and per-table cleanup."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete

from airflow.utils.session import create_session

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session

    from airflow.dag_processing.dagbag import DagBag

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def _with_db_retries(func: F) -> F:
    """Retry ``func`` on transient database errors (e.g. locked sqlite file)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from airflow.utils.retries import run_with_db_retries

        for attempt in run_with_db_retries(logger=log):
            with attempt:
                return func(*args, **kwargs)
        return None

    return wrapper  # type: ignore[return-value]


def _delete_all(*models: Any) -> None:
    with create_session() as session:
        for model in models:
            session.execute(delete(model))


def initial_db_init() -> None:
    """
    Drop and recreate the metadata database.

    Then add Airflow's default connections (``sftp_default``, ``ssh_default``, ...; the provider
    suites rely on them) and register the configured dag bundles.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils import db

    db.resetdb()
    with create_session() as session:
        db.create_default_connections(session=session)
        DagBundlesManager().sync_bundles_to_db(session=session)


def parse_and_sync_to_db(folder: Path | str) -> DagBag:
    """Parse the dags found in ``folder`` and write them to the DB under the ``dags-folder`` bundle."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    with create_session() as session:
        manager = DagBundlesManager()
        manager.sync_bundles_to_db(session=session)
        session.flush()
        dagbag = DagBag(dag_folder=folder)
        sync_bag_to_db(dagbag, "dags-folder", None, session=session)
        # Example dags are their own bundles since 3.3; sync them so references resolve.
        for bundle in manager.get_all_dag_bundles():
            if bundle.name == "dags-folder":
                continue
            sync_bag_to_db(DagBag(dag_folder=bundle.path), bundle.name, None, session=session)
    return dagbag


@_with_db_retries
def clear_db_runs() -> None:
    from airflow.jobs.job import Job
    from airflow.models import DagRun, TaskInstance, Trigger
    from airflow.models.taskinstancehistory import TaskInstanceHistory

    _delete_all(Job, Trigger, DagRun, TaskInstance, TaskInstanceHistory)


@_with_db_retries
def clear_db_dags() -> None:
    from airflow.models import DagModel, DagRun, DagTag
    from airflow.models.dag import DagOwnerAttributes
    from airflow.models.dag_favorite import DagFavorite

    _delete_all(DagFavorite, DagTag, DagOwnerAttributes, DagRun, DagModel)


@_with_db_retries
def clear_db_serialized_dags() -> None:
    from airflow.models.serialized_dag import SerializedDagModel

    _delete_all(SerializedDagModel)


@_with_db_retries
def clear_db_dag_bundles() -> None:
    from airflow.models.dagbundle import DagBundleModel

    _delete_all(DagBundleModel)


@_with_db_retries
def clear_db_xcom() -> None:
    from airflow.models.xcom import XComModel

    _delete_all(XComModel)


@_with_db_retries
def clear_rendered_ti_fields() -> None:
    from airflow.models import RenderedTaskInstanceFields

    _delete_all(RenderedTaskInstanceFields)


@_with_db_retries
def clear_db_jobs() -> None:
    from airflow.jobs.job import Job

    _delete_all(Job)


@_with_db_retries
def clear_db_logs() -> None:
    from airflow.models import Log

    _delete_all(Log)


@_with_db_retries
def clear_db_task_reschedule() -> None:
    from airflow.models import TaskReschedule

    _delete_all(TaskReschedule)


@_with_db_retries
def clear_db_triggers() -> None:
    from airflow.models import Trigger

    _delete_all(Trigger)


@_with_db_retries
def clear_db_variables() -> None:
    from airflow.models import Variable

    _delete_all(Variable)


@_with_db_retries
def clear_db_connections(add_default_connections_back: bool = True) -> None:
    from airflow.models import Connection
    from airflow.utils.db import create_default_connections

    with create_session() as session:
        session.execute(delete(Connection))
        if add_default_connections_back:
            create_default_connections(session=session)


@_with_db_retries
def clear_db_pools() -> None:
    from airflow.models import Pool
    from airflow.utils.db import add_default_pool_if_not_exists

    with create_session() as session:
        session.execute(delete(Pool))
        add_default_pool_if_not_exists(session=session)


@_with_db_retries
def clear_db_assets() -> None:
    from airflow.models import asset

    _delete_all(
        asset.AssetEvent,
        asset.AssetDagRunQueue,
        asset.DagScheduleAssetReference,
        asset.TaskOutletAssetReference,
        asset.TaskInletAssetReference,
        asset.DagScheduleAssetAliasReference,
        asset.DagScheduleAssetNameReference,
        asset.DagScheduleAssetUriReference,
        asset.AssetActive,
        asset.AssetAliasModel,
        asset.AssetModel,
    )


def clear_all() -> None:
    """Empty the tables the provider suites write to."""
    clear_db_runs()
    clear_db_xcom()
    clear_rendered_ti_fields()
    clear_db_task_reschedule()
    clear_db_logs()
    clear_db_assets()
    clear_db_serialized_dags()
    clear_db_dags()
    clear_db_variables()
    clear_db_pools()


def drop_session_state(session: Session) -> None:
    """Roll back and detach everything held by ``session``."""
    session.rollback()
    session.expunge_all()
