"""Concurrency on the Redshift path, without advisory locks, through the rehearsal.

The rehearsal runs its sessions SERIALIZABLE here, as Redshift does, and reports PostgreSQL's
serialization failures as Redshift's error 1023. These tests show that the pipeline's
writers queue on their lock tables, that a serialization failure is recognised and its
transaction run again, and that a model run never blocks readers of the star schema.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
import redshift_connector

from sparkify.local.stack.config import HOST, WAREHOUSE_ROLE
from sparkify.pipeline import partitions
from sparkify.pipeline.serialization import is_serialization_failure, retrying
from sparkify.pipeline.sql import MODEL_LOADS, render, statements
from tests.integration.conftest import (
    backend_connect,
    put_lines,
    redshift_connect,
    running_rehearsal,
    use_redshift_warehouse,
)

pytestmark = pytest.mark.integration

H1 = datetime(2018, 11, 2, 13, tzinfo=UTC)
H2 = datetime(2018, 11, 2, 14, tzinfo=UTC)
T0 = 1541163600000


@pytest.fixture
def rehearsal(stack):
    """A rehearsal whose sessions run SERIALIZABLE, as Redshift runs every transaction."""
    with running_rehearsal(stack, isolation="serializable") as port:
        yield port


@pytest.fixture
def connect(stack, rehearsal, rehearsal_database):
    opened = []
    before = redshift_connector.paramstyle
    redshift_connector.paramstyle = "pyformat"

    def _connect():
        opened.append(redshift_connect(stack, rehearsal, rehearsal_database))
        return opened[-1]

    yield _connect
    for conn in opened:
        with contextlib.suppress(Exception):
            conn.close()
    redshift_connector.paramstyle = before


@pytest.fixture
def look(stack, rehearsal_database):
    """A psycopg connection straight to the database, beside the rehearsal, for looking."""
    with backend_connect(stack, rehearsal_database) as conn:
        yield conn


@pytest.fixture
def pipeline_schema(connect):
    conn = connect()
    cur = conn.cursor()
    for sql in statements(render("schema/create_tables", "redshift")):
        cur.execute(sql)
    conn.commit()
    return conn


def waiting_on_a_lock(look, fragment: str) -> int:
    """How many sessions are waiting for a lock in a statement containing ``fragment``."""
    rows = look.execute(
        "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND state = 'active'"
    ).fetchall()
    return sum(fragment in q for (q,) in rows)


def test_a_serialization_failure_reaches_the_client_as_redshifts_1023(connect) -> None:
    setup = connect()
    cur = setup.cursor()
    cur.execute("CREATE TABLE t (id INTEGER, v INTEGER)")
    cur.execute("INSERT INTO t VALUES (1, 0), (2, 0)")
    setup.commit()
    a, b = connect(), connect()
    ca, cb = a.cursor(), b.cursor()
    # Write skew: each reads both rows and changes the one the other did not.
    ca.execute("SELECT SUM(v) FROM t")
    cb.execute("SELECT SUM(v) FROM t")
    ca.execute("UPDATE t SET v = 1 WHERE id = 1")
    cb.execute("UPDATE t SET v = 1 WHERE id = 2")
    a.commit()
    with pytest.raises(redshift_connector.ProgrammingError) as failure:
        b.commit()
    fields = failure.value.args[0]
    assert fields["M"] == "1023"
    assert fields["C"] == "XX000"
    assert fields["D"].startswith("Serializable isolation violation on table")
    assert is_serialization_failure(failure.value)


def test_a_transaction_aborted_by_1023_is_run_again_and_commits(connect) -> None:
    setup = connect()
    setup.cursor().execute("CREATE TABLE counter (id INTEGER, v INTEGER)")
    setup.cursor().execute("INSERT INTO counter VALUES (1, 0)")
    setup.commit()
    attempts = []

    def work() -> int:
        conn = connect()
        try:
            cur = conn.cursor()
            cur.execute("SELECT v FROM counter WHERE id = 1")  # the snapshot is taken here
            if not attempts:
                other = connect()
                other.cursor().execute("UPDATE counter SET v = v + 10 WHERE id = 1")
                other.commit()
            attempts.append(1)
            cur.execute("UPDATE counter SET v = v + 1 WHERE id = 1")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()
        return len(attempts)

    assert retrying(work, sleep=lambda s: None) == 2
    cur = setup.cursor()
    cur.execute("SELECT v FROM counter")
    assert cur.fetchall()[0][0] == 11  # both updates, each once


def events(hour: datetime, first: int, count: int, session: int) -> list[str]:
    base = int(hour.timestamp() * 1000)
    return [
        json.dumps(
            {
                "ts": base + i * 1000,
                "sessionId": session,
                "itemInSession": i,
                "page": "NextSong",
                "userId": "12",
                "firstName": "A",
                "lastName": "B",
                "gender": "F",
                "level": "free",
                "song": f"Song {i}",
                "artist": "Artist",
                "length": 200.5,
            }
        )
        for i in range(first, first + count)
    ]


def test_concurrent_staging_runs_queue_and_stage_every_event_once(
    stack, s3, bucket, pipeline_schema, look, rehearsal, rehearsal_database, monkeypatch, caplog
) -> None:
    from airflow.providers.amazon.aws.hooks.redshift_sql import RedshiftSQLHook

    from sparkify.pipeline.staging.objects import S3Objects
    from sparkify.pipeline.staging.redshift import stage_redshift

    cfg = use_redshift_warehouse(stack, rehearsal, rehearsal_database, monkeypatch)
    # Two hours; the second repeats 20 of the first hour's events (a redelivery).
    put_lines(s3, bucket, "log_data/2018/11/02/13/a.json", events(H1, 0, 60, session=7))
    put_lines(
        s3,
        bucket,
        "log_data/2018/11/02/14/b.json",
        events(H2, 0, 40, session=8) + events(H1, 0, 20, session=7),
    )
    source = S3Objects(s3, bucket)

    # Hold the staging lock, so that every run below queues behind it at once.
    holder = psycopg.connect(
        host=HOST,
        port=look.info.port,
        user=WAREHOUSE_ROLE,
        password=stack.config["secrets"]["warehouse_password"],
        dbname=rehearsal_database,
    )
    holder.execute("LOCK lock_staging")
    results, errors = [], []

    def stage(hour: datetime) -> None:
        try:
            prefix = partitions.events_prefix(cfg.events_prefix, hour)
            hook = RedshiftSQLHook(redshift_conn_id="warehouse")
            objects = source.list(prefix)
            results.append(
                stage_redshift(hook, source, objects, hour, prefix, dataset="events", settings=cfg)
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=stage, args=(h,)) for h in (H1, H1, H2, H1, H2)]
    caplog.set_level(logging.WARNING, logger="sparkify.pipeline.staging.redshift")
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while waiting_on_a_lock(look, "LOCK lock_staging") < len(threads):
        assert time.monotonic() < deadline, "the staging runs never queued on lock_staging"
        time.sleep(0.05)
    holder.rollback()
    holder.close()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == len(threads)
    # Every distinct event once; nothing retried: the lock, not luck, kept them apart.
    assert look.execute("SELECT COUNT(*) FROM staging_events").fetchone() == (100,)
    assert look.execute(
        "SELECT COUNT(*) FROM (SELECT session_id, item_in_session FROM staging_events "
        "GROUP BY 1, 2 HAVING COUNT(*) > 1) AS d"
    ).fetchone() == (0,)
    assert not [r for r in caplog.records if "serialization failure" in r.getMessage()]
    rows = look.execute(
        "SELECT partition_hour, rows_read, rows_staged, rows_rejected, rows_duplicate "
        "FROM staging_partitions ORDER BY partition_hour"
    ).fetchall()
    assert [(r[1], r[1] - r[2] - r[3] - r[4]) for r in rows] == [(60, 0), (60, 0)]
    assert sum(r[2] for r in rows) == 100
    assert sum(r[4] for r in rows) == 20
    ledger = look.execute("SELECT source_key FROM load_ledger ORDER BY 1").fetchall()
    assert ledger == [("log_data/2018/11/02/13/a.json",), ("log_data/2018/11/02/14/b.json",)]
    # Staged once per hour; the other runs found their hour's objects unchanged.
    assert sorted(r.unchanged for r in results) == [False, False, True, True, True]


def test_a_model_run_blocks_other_model_runs_but_never_readers(
    connect, pipeline_schema, look
) -> None:
    hour = partitions.Window.of_hour(H1).params()  # the model binds the run's window
    model = [
        sql for name in MODEL_LOADS for sql in statements(render(name, "redshift", mode="upsert"))
    ]
    first = connect()
    cur = first.cursor()
    for sql in model:
        cur.execute(sql, hour)  # the transaction stays open: the model run is in progress
    # A reader of every star table answers at once (statement_timeout: a wait fails it).
    reader = connect()
    rcur = reader.cursor()
    rcur.execute("SET statement_timeout = 3000")
    for table in ("songplays", "users", "songs", "artists", '"time"'):
        rcur.execute(f"SELECT COUNT(*) FROM {table}")
        assert rcur.fetchall()[0][0] == 0
    reader.commit()
    # A second model run queues on lock_model until the first commits.
    second = connect()
    done = threading.Event()

    def run_second() -> None:
        scur = second.cursor()
        for sql in model:
            scur.execute(sql, hour)
        second.commit()
        done.set()

    thread = threading.Thread(target=run_second, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not waiting_on_a_lock(look, "LOCK lock_model"):
        assert time.monotonic() < deadline, "the second model run never waited on lock_model"
        time.sleep(0.05)
    assert not done.is_set()
    first.commit()
    thread.join(timeout=60)
    assert done.is_set()
