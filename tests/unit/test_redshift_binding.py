"""Every statement every DAG runs reaches the driver in a form the driver accepts.

Each task of each DAG is executed, in both dialects, through the real connection lookup
(``AIRFLOW_CONN_WAREHOUSE``), the real provider hook (``PostgresHook`` or
``RedshiftSQLHook``) and the operators' own code; only the driver's connection is replaced.
For Redshift the replacement does what ``redshift_connector`` does with a statement before
anything goes to the server: the cursor takes the module-wide ``paramstyle`` when it is
made (``Cursor.__init__``), and ``execute`` runs the driver's own ``convert_paramstyle``
and ``make_args`` (``Connection.execute``). A statement in a style the driver refuses
raises its ``InterfaceError`` here, as it would against a cluster. ``paramstyle`` is reset
to the driver's default before each run, so nothing but the task's own code path sets it.

Sensors are left out (they only list S3). Staging on PostgreSQL streams through psycopg's
``COPY`` and runs against a real server in the integration tests; here it is the Redshift
staging whose statements are checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import redshift_connector
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.postgres.hooks.postgres import PostgresHook
from redshift_connector.core import convert_paramstyle

from sparkify.pipeline import settings as settings_module
from sparkify.pipeline.operators.announce import AnnounceOperator
from sparkify.pipeline.operators.route import RouteNotificationsOperator
from sparkify.pipeline.operators.sensors import HourPrefixSensor
from sparkify.pipeline.operators.stage import StageJsonOperator
from sparkify.pipeline.sql import render, statements
from tests.unit.test_operators import DAGS, KEY, NAIVE_HOUR, aws_settings

URIS = {
    "postgres": "postgres://sparkify:secret@127.0.0.1:5432/sparkify",
    "redshift": "redshift://sparkify:secret@127.0.0.1:5439/dev",
}
LISTED = [
    {"Key": "log_data/2018/11/02/13/a.json", "ETag": '"e1"', "Size": 10},
    {"Key": "song_data/A/B/C/TRAAA.json", "ETag": '"s1"', "Size": 10},
]
NAMED = re.compile(r"%\((\w+)\)s")


class DriverCursor:
    """A cursor that checks each statement as its driver would before sending it."""

    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.paramstyle = redshift_connector.paramstyle  # read when made, as Cursor does
        self.rows: list[tuple[Any, ...]] = []
        self.rowcount = -1
        self.description = None

    def execute(self, operation: str, args: Any = None) -> DriverCursor:
        if self.conn.dialect == "redshift":
            check_redshift(self.paramstyle, operation, args)
        else:
            check_postgres(operation, args)
        self.conn.executed.append((operation, args))
        self.rows = self.conn.answer(operation)
        self.rowcount = len(self.rows)
        is_query = operation.lstrip().upper().startswith(("SELECT", "WITH"))
        self.description = [("c",)] if is_query else None
        return self

    def executemany(self, operation: str, param_sets: Any) -> DriverCursor:
        for params in param_sets:
            self.execute(operation, params)
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def close(self) -> None:
        pass

    def __enter__(self) -> DriverCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FakeConnection:
    """The driver's connection, answering each query with what ``answer`` gives."""

    def __init__(self, dialect: str, answer: Any) -> None:
        self.dialect = dialect
        self.answer = answer
        self.executed: list[tuple[str, Any]] = []
        self.autocommit = False

    def cursor(self) -> DriverCursor:
        return DriverCursor(self)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


def check_redshift(paramstyle: str, operation: str, args: Any) -> None:
    """What ``redshift_connector.core.Connection.execute`` does before sending ``operation``."""
    if args is None:
        # Sent as it is: a placeholder or an escaped %% would reach the server unbound.
        assert not NAMED.search(operation), f"unbound placeholder in {operation!r}"
        return
    statement, make_args = convert_paramstyle(paramstyle, operation)  # may raise InterfaceError
    bound = make_args(args)
    # Connection.make_params iterates over what make_args gave: a mapping would bind its keys.
    assert not isinstance(bound, Mapping), f"{paramstyle} bound a mapping's keys: {operation!r}"
    slots = {int(n) for n in re.findall(r"\$(\d+)", statement)}
    assert slots == set(range(1, len(bound) + 1)), (statement, bound)


def check_postgres(operation: str, args: Any) -> None:
    if args is None or not isinstance(args, Mapping):
        assert not NAMED.search(operation), f"unbound placeholder in {operation!r}"
        return
    missing = set(NAMED.findall(operation)) - set(args)
    assert not missing, f"{operation!r} needs {missing}"


def answer_for(task: Any, dialect: str):
    """What the warehouse answers the task's queries with: enough for every path to finish."""
    reconcile = statements(render("checks/reconcile_partition", dialect))[0]
    freshness = statements(render("checks/read_freshness", dialect))[0]

    def answer(sql: str) -> list[tuple[Any, ...]]:
        if "AS check_columns" in sql:
            return [(c, check, 0) for c, checks in task.column_mapping.items() for check in checks]
        if "AS check_table" in sql:
            return [(name, 1) for name in task.checks]
        if sql == reconcile:
            return [(NAIVE_HOUR, 2, 2, 0, 0, "{}", 1, 1, 1)]
        if sql == freshness:
            return [(NAIVE_HOUR, NAIVE_HOUR)]
        if "pg_last_copy_count" in sql:
            return [(1,)]
        if " ".join(sql.split()).startswith("SELECT partition_hour FROM staging_partitions"):
            return [(NAIVE_HOUR,)]  # staged before, with other objects: late
        return []

    return answer


def s3_hook_class() -> mock.MagicMock:
    client = mock.MagicMock()
    client.get_paginator.return_value.paginate.side_effect = lambda Prefix, **_: [
        {"Contents": [o for o in LISTED if o["Key"].startswith(Prefix)]}
    ]
    hook_class = mock.MagicMock(spec=S3Hook)
    hook_class.return_value.get_conn.return_value = client
    hook_class.return_value.get_client_type.return_value = client
    return hook_class


def dag_tasks() -> list[tuple[str, str, str]]:
    """(dag_id, task_id, dialect) of every task to check."""
    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return [
        (dag_id, task.task_id, dialect)
        for dag_id, dag in sorted(bag.dags.items())
        for task in dag.tasks
        # None touches the warehouse: the sensor lists S3, the router reads asset events,
        # the announcer emits what the staging task returned.
        if not isinstance(task, (HourPrefixSensor, RouteNotificationsOperator, AnnounceOperator))
        for dialect in ("postgres", "redshift")
        # PostgreSQL staging streams through psycopg's COPY: see the module docstring.
        if dialect == "redshift" or not isinstance(task, StageJsonOperator)
    ]


TASKS = dag_tasks()


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(autouse=True)
def driver_default():
    """The driver as a fresh process has it; restored afterwards."""
    before = redshift_connector.paramstyle
    redshift_connector.paramstyle = "format"
    yield
    redshift_connector.paramstyle = before


def run_task(bag: DagBag, dag_id: str, task_id: str, dialect: str, monkeypatch) -> FakeConnection:
    dag = bag.dags[dag_id]
    task = dag.get_task(task_id)
    task.__dict__.pop("_hook", None)  # common-sql caches its hook; a task process starts without
    ctx = {
        "dag_run": SimpleNamespace(partition_key=KEY),
        "params": {"dimension_mode": "upsert"},
        "outlet_events": mock.MagicMock(),
        "logical_date": datetime(2018, 11, 2, 13),
    }
    task.render_template_fields(ctx)
    conn = FakeConnection(dialect, answer_for(task, dialect))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", URIS[dialect])
    with (
        mock.patch("redshift_connector.connect", return_value=conn),
        mock.patch.object(PostgresHook, "get_conn", return_value=conn),
        mock.patch("airflow.providers.amazon.aws.hooks.s3.S3Hook", s3_hook_class()),
        mock.patch.object(settings_module, "current", return_value=aws_settings()),
        mock.patch("sparkify.pipeline.staging.postgres.stage_events") as pg_events,
        mock.patch("sparkify.pipeline.staging.postgres.stage_songs") as pg_songs,
    ):
        pg_events.return_value.as_extra.return_value = {}
        pg_songs.return_value.as_extra.return_value = {}
        task.execute(ctx)  # restage_late finds its hour late (see answer_for): no skip
    return conn


@pytest.mark.parametrize(("dag_id", "task_id", "dialect"), TASKS)
def test_every_statement_is_accepted_by_the_driver(bag, dag_id, task_id, dialect, monkeypatch):
    conn = run_task(bag, dag_id, task_id, dialect, monkeypatch)
    assert conn.executed, "the task ran no statement"
    bound = [sql for sql, args in conn.executed if args]
    if dialect == "redshift":
        assert redshift_connector.paramstyle == "pyformat"
    # Every task binds a value somewhere (the partition hour, or a check's outcome), so the
    # driver's parameter conversion was exercised, not only plain statements.
    if task_id != "create_tables":
        assert bound


def test_the_staging_tasks_were_run_through_redshift_staging(bag, monkeypatch) -> None:
    conn = run_task(bag, "stage_events", "stage_events", "redshift", monkeypatch)
    copies = [sql for sql, _ in conn.executed if sql.startswith("COPY load_lines")]
    assert len(copies) == 1


def test_the_driver_refuses_what_the_default_paramstyle_cannot_bind() -> None:
    """The check above can fail: under ``format`` our SQL is refused, as on a cluster."""
    with pytest.raises(redshift_connector.InterfaceError, match="Only %s and %%"):
        check_redshift("format", "SELECT %(partition_hour)s", {"partition_hour": NAIVE_HOUR})


def test_a_statement_mixing_an_escape_and_a_named_placeholder_is_caught() -> None:
    with pytest.raises(redshift_connector.InterfaceError):
        check_redshift("pyformat", "SELECT 5 %% 2, %(a)s", {"a": 1})


def test_every_dag_is_checked() -> None:
    dags = {dag_id for dag_id, _, _ in TASKS}
    assert dags == {"model", "quality", "restage_late", "setup", "stage_events", "stage_songs"}
    assert ("stage_songs", "stage_songs", "redshift") in TASKS
