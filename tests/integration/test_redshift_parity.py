"""The same generated hours through both warehouses end in the same star schema.

PostgreSQL path: a fresh schema, ``PostgresHook``, psycopg, msgspec and ``COPY FROM STDIN``.
Redshift path: a fresh database behind the Redshift rehearsal (``sparkify.local.redshift``),
a ``redshift``-type ``warehouse`` connection, so every task goes through
``RedshiftSQLHook``, ``redshift_connector``, the ``*.redshift.sql`` variants and Redshift's
``COPY ... FORMAT AS JSON`` with its manifest. Both run ``setup`` (Redshift) or the same DDL
(PostgreSQL), then ``stage_events``, ``stage_songs``, ``model`` and ``quality`` for three
consecutive hours with ``dag.test()``, and their tables are compared row for row.
"""

from __future__ import annotations

import json
import os

import pytest

from sparkify.local.stack.config import HOST, WAREHOUSE_ROLE
from sparkify.pipeline import partitions, settings
from tests.integration.conftest import backend_connect, use_redshift_warehouse

# The generated hours and the parsed DAGs, as the idempotency tests have them.
from tests.integration.test_idempotency import (  # noqa: F401
    STAR_TABLES,
    chain,
    dags,
    dataset,
    expected_plays,
    land_songs,
    landed,
    matched_plays,
    snapshot,
)

pytestmark = pytest.mark.integration

CHAIN = ("stage_events", "stage_songs", "model", "quality")
# What each path records per partition. Redshift's COPY does not say which object or line a
# row came from (docs/staging.md): staging_events' source_key and line_no differ.
PARTITION_COUNTS = "dataset, partition_hour, objects, rows_read, rows_staged, rows_rejected"


@pytest.fixture
def redshift_warehouse(stack, rehearsal, rehearsal_database, monkeypatch):
    """A fresh database, reached by the pipeline only through the rehearsal.

    Yields a psycopg connection to it, for looking.
    """
    use_redshift_warehouse(stack, rehearsal, rehearsal_database, monkeypatch)
    conn = backend_connect(stack, rehearsal_database)
    try:
        yield conn
    finally:
        conn.close()
        settings.current.cache_clear()


def partition_counts(conn) -> list[tuple]:
    return conn.execute(
        f"SELECT {PARTITION_COUNTS} FROM staging_partitions ORDER BY dataset, partition_hour"
    ).fetchall()


def failed_checks(conn) -> list[tuple]:
    return conn.execute(
        "SELECT check_name, table_name, value FROM check_results WHERE NOT passed"
    ).fetchall()


def test_both_warehouses_build_the_same_star_schema(
    schema_ready, s3, bucket, redshift_warehouse, monkeypatch, request
) -> None:
    # Fixtures of the idempotency tests, by name (imported above so that pytest finds them).
    data, bag = request.getfixturevalue("landed"), request.getfixturevalue("dags")
    land_songs(s3, bucket, data)
    hours = data["hours"]
    # PostgreSQL first: schema_ready made its fresh schema the warehouse connection's; the
    # redshift_warehouse fixture has since pointed the connection at the rehearsal.
    redshift_conn = json.loads(os.environ["AIRFLOW_CONN_WAREHOUSE"])
    (schema,) = schema_ready.execute("SELECT current_schema()").fetchone()
    pg_conn = {
        "conn_type": "postgres",
        "host": HOST,
        "port": schema_ready.info.port,
        "login": WAREHOUSE_ROLE,
        "password": redshift_conn["password"],
        "schema": schema_ready.info.dbname,
        "extra": {"options": f"-c search_path={schema}"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps(pg_conn))
    for key in hours:
        chain(bag, key, CHAIN)
    postgres_tables = snapshot(schema_ready, STAR_TABLES)
    postgres_counts = partition_counts(schema_ready)
    assert not failed_checks(schema_ready)

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps(redshift_conn))
    dag_run = bag["setup"].test()
    assert dag_run.state == "success"
    for key in hours:
        chain(bag, key, CHAIN)
    redshift_tables = snapshot(redshift_warehouse, STAR_TABLES)

    assert sum(len(rows) for rows in postgres_tables.values()) > 0
    for table in STAR_TABLES:
        assert redshift_tables[table] == postgres_tables[table], table
    assert partition_counts(redshift_warehouse) == postgres_counts
    assert not failed_checks(redshift_warehouse)
    plays = redshift_warehouse.execute("SELECT COUNT(*) FROM songplays").fetchone()[0]
    expected = sum(data["manifest"]["partitions"][k]["plays_staged"] for k in hours)
    assert plays == expected
    # It was Redshift's path: rows staged by COPY carry the hour's prefix, not a line number,
    # and the rehearsal's system objects exist in that database only.
    unnumbered, total = redshift_warehouse.execute(
        "SELECT COUNT(*) FILTER (WHERE line_no IS NULL), COUNT(*) FROM staging_events"
    ).fetchone()
    assert unnumbered == total > 0
    assert redshift_warehouse.execute("SELECT pg_last_copy_id()").fetchone() == (-1,)

    # The three hours again as one window, on Redshift's path: staging loops over its hours
    # (each its own Redshift transaction), model and quality take the window whole, and
    # every table stays as the hourly runs left it.
    window = (
        f"{hours[0]}/{partitions.format_key(partitions.parse_key(hours[-1]) + partitions.HOUR)}"
    )
    chain(bag, window, CHAIN)
    assert snapshot(redshift_warehouse, STAR_TABLES) == redshift_tables
    assert partition_counts(redshift_warehouse) == postgres_counts
    assert not failed_checks(redshift_warehouse)
    judged = redshift_warehouse.execute(
        "SELECT COUNT(*) FROM check_results WHERE partition_key = %s", (window,)
    ).fetchone()[0]
    assert judged > 0
    assert schema_ready.execute("SELECT to_regproc('pg_last_copy_id')").fetchone() == (None,)


def test_late_songs_match_earlier_plays_on_redshifts_path(
    s3, bucket, redshift_warehouse, request
) -> None:
    """The re-match's Redshift SQL (``load_songplays.sql``'s ``else`` branch) with data: the
    first hour is modelled before any song file lands, so its plays wait in
    ``unmatched_plays``; the second hour's ``stage_songs`` stages the catalogue and its
    ``model`` matches them, through the rehearsal and ``redshift_connector``."""
    data, bag = request.getfixturevalue("landed"), request.getfixturevalue("dags")
    conn = redshift_warehouse
    assert bag["setup"].test().state == "success"
    first, second = data["hours"][:2]

    chain(bag, first, CHAIN)  # no song files landed yet
    plays, _ = expected_plays(data, first)
    assert matched_plays(conn, first) == (plays, 0)
    waiting = conn.execute("SELECT COUNT(*) FROM unmatched_plays").fetchone()[0]
    assert waiting >= expected_plays(data, first)[1] > 0

    assert land_songs(s3, bucket, data) > 0
    chain(bag, second, CHAIN)

    assert matched_plays(conn, first) == expected_plays(data, first)
    assert matched_plays(conn, second) == expected_plays(data, second)
    # What still waits is exactly the plays of songs the catalogue does not hold.
    still = conn.execute(
        "SELECT COUNT(*) FROM unmatched_plays AS u JOIN song_picks AS p "
        "ON p.title = u.title AND p.artist_name = u.artist_name AND p.duration = u.duration"
    ).fetchone()[0]
    assert still == 0
    # and every play left without a song waits (clean data: each play has its triple).
    unmatched = sum(
        plays - matched for plays, matched in (expected_plays(data, k) for k in (first, second))
    )
    assert conn.execute("SELECT COUNT(*) FROM unmatched_plays").fetchone()[0] == unmatched
    assert not failed_checks(conn)
