"""The health page's reader: the local stack's ``warehouse_read`` user reads every figure
the page shows and can change nothing."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import psycopg
import pytest

from sparkify.health.gather import gather
from sparkify.health.page import render, ui_run_link
from sparkify.health.report import DsnRecords
from sparkify.local.stack.config import WAREHOUSE_READ_ROLE

pytestmark = pytest.mark.integration

HOUR = datetime(2018, 11, 3, 10, tzinfo=UTC)


@pytest.fixture
def reader(stack, schema_ready):
    """A psycopg connection as the reader, on the test's schema (granted as the docs say
    for a schema of one's own: USAGE; SELECT comes from the default privileges)."""
    schema = schema_ready.execute("SELECT current_schema()").fetchone()[0]
    schema_ready.execute(f"GRANT USAGE ON SCHEMA {schema} TO {WAREHOUSE_READ_ROLE}")
    dsn = f"{stack.warehouse_dsn(reader=True)} options='-c search_path={schema}'"
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield dsn, conn


def _fill(owner) -> None:
    owner.execute(
        "INSERT INTO staging_partitions (dataset, partition_hour, objects, rows_read, "
        "rows_staged, rows_rejected, rows_duplicate, rows_coerced, drift) "
        "VALUES ('events', %s, 1, 10, 9, 1, 0, 0, '{}')",
        (HOUR.replace(tzinfo=None),),
    )


def test_the_reader_reads_what_the_page_shows(reader, schema_ready) -> None:
    dsn, _conn = reader
    _fill(schema_ready)
    health = gather(
        "2018-11-03T10",
        "2018-11-03T10",
        runs=lambda first, last, dags: {d: {} for d in dags},
        db_hook=DsnRecords(dsn),
    )
    assert (health.hours[HOUR].read, health.hours[HOUR].staged) == (10, 9)
    assert health.newest_with_events == HOUR
    assert 'data-partition="2018-11-03T10:00:00"' in render(health, run_link=ui_run_link(""))


def test_without_a_range_the_page_opens_on_the_newest_hour_with_events(
    reader, schema_ready
) -> None:
    """The live clock stages the current, empty hour long after the data's last one: the
    default range ends at the data, not at those empty hours."""
    dsn, _conn = reader
    _fill(schema_ready)
    schema_ready.execute(
        "INSERT INTO staging_partitions (dataset, partition_hour, objects, rows_read, "
        "rows_staged, rows_rejected, rows_duplicate, rows_coerced, drift) "
        "VALUES ('events', %s, 0, 0, 0, 0, 0, 0, '{}')",
        (datetime(2026, 12, 1, 9),),
    )
    health = gather(
        None,
        None,
        runs=lambda first, last, dags: {d: {} for d in dags},
        db_hook=DsnRecords(dsn),
        now=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
    )
    assert health.last == HOUR
    assert (health.last - health.first).days == 6
    assert health.hours[HOUR].staged == 9


def test_with_no_data_at_all_the_page_says_how_to_load_some(reader) -> None:
    dsn, _conn = reader
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    health = gather(
        None, None, runs=lambda first, last, dags: {d: {} for d in dags},
        db_hook=DsnRecords(dsn), now=now,
    )  # fmt: skip
    assert health.last == datetime(2026, 12, 1, 8, tzinfo=UTC)
    page = render(health, run_link=ui_run_link(""))
    assert "no hour with staged events" in page
    assert "sparkify backfill --from" in page


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO staging_partitions (dataset, partition_hour) VALUES ('events', now())",
        "UPDATE staging_partitions SET rows_read = 0",
        "DELETE FROM check_results",
        "TRUNCATE songplays",
        "DROP TABLE users",
        "CREATE TABLE mine (x int)",
        "CREATE TEMPORARY TABLE mine (x int)",
        "ALTER TABLE songs ADD COLUMN x int",
        "CREATE SCHEMA mine",
        "ALTER ROLE sparkify_read CREATEDB",
    ],
)
def test_the_reader_can_change_nothing(reader, statement) -> None:
    _dsn, conn = reader
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_the_stack_gives_airflow_a_warehouse_read_connection(stack) -> None:
    from sparkify.pipeline.warehouse import reader_hook

    conn = json.loads(os.environ["AIRFLOW_CONN_WAREHOUSE_READ"])
    assert conn["login"] == WAREHOUSE_READ_ROLE
    assert conn["password"] != json.loads(os.environ["AIRFLOW_CONN_WAREHOUSE"])["password"]
    db = reader_hook().get_conn()
    try:
        cursor = db.cursor()
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == WAREHOUSE_READ_ROLE
    finally:
        db.close()


def test_the_reader_reads_through_the_redshift_rehearsal_and_can_change_nothing(stack) -> None:
    """The stack's Redshift mode: ``warehouse_read`` is a ``redshift`` connection to the
    rehearsal as the reader, which logs in to PostgreSQL as the reader too."""
    from types import SimpleNamespace

    import redshift_connector

    from sparkify.pipeline.sql import render as render_sql
    from sparkify.pipeline.sql import statements
    from sparkify.pipeline.warehouse import prepared
    from tests.integration.conftest import fresh_database, redshift_connect, running_rehearsal

    password = stack.config["secrets"]["warehouse_read_password"]
    with running_rehearsal(stack) as port, fresh_database(stack) as name:
        owner = redshift_connect(stack, port, name)
        with owner.cursor() as cur:
            for sql in statements(render_sql("schema/create_tables", "redshift")):
                cur.execute(sql)
            _fill(cur)
            # the grant docs/security.md gives for Redshift (a new database: no defaults)
            cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {WAREHOUSE_READ_ROLE}")
        owner.commit()
        owner.close()

        def as_reader():
            return redshift_connect(stack, port, name, user=WAREHOUSE_READ_ROLE, password=password)

        health = gather(
            "2018-11-03T10",
            "2018-11-03T10",
            runs=lambda first, last, dags: {d: {} for d in dags},
            # as warehouse.reader_hook() gives it: named parameters bound
            db_hook=prepared(SimpleNamespace(get_conn=as_reader, conn_type="redshift")),
        )
        assert (health.hours[HOUR].read, health.hours[HOUR].staged) == (10, 9)
        conn = as_reader()
        try:
            for statement in ("DELETE FROM staging_partitions", "CREATE TABLE mine (x int)"):
                with conn.cursor() as cur, pytest.raises(redshift_connector.ProgrammingError) as no:
                    cur.execute(statement)
                assert "permission denied" in str(no.value)
                conn.rollback()
        finally:
            conn.close()
        with pytest.raises(redshift_connector.Error) as refused:
            redshift_connect(stack, port, name, user=WAREHOUSE_READ_ROLE, password="wrong")
        assert "password authentication failed" in str(refused.value)
