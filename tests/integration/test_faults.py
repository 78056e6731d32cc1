"""Loads interrupted at any point leave nothing partial; the retry ends as an undisturbed run.

The loads run in a child process (as Airflow's task processes do) which is killed, or whose
database is restarted, while its transaction is open.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime

import psycopg
import pytest

from tests.integration.conftest import put_lines

pytestmark = pytest.mark.integration

HOUR = datetime(2018, 11, 2, 13, tzinfo=UTC)
PREFIX = "log_data/2018/11/02/13/"
T0 = 1541163600000
EVENTS = 150_000

LOAD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    import boto3, psycopg
    from sparkify.sql import MODEL_LOADS, render, statements
    from sparkify.staging import postgres
    from sparkify.staging.objects import S3Objects

    dsn, schema, bucket, what = sys.argv[1:5]
    hour = datetime(2018, 11, 2, 13, tzinfo=UTC)
    conn = psycopg.connect(dsn, options=f"-c search_path={schema}", application_name="fault-test")
    if what == "stage":
        source = S3Objects(boto3.client("s3"), bucket)
        postgres.stage_events(conn, source, source.list("log_data/2018/11/02/13/"), hour,
                              force=True)
    else:
        with conn.transaction():  # as the model DAG's one task runs the hour
            for name in MODEL_LOADS:
                for sql in statements(render(name, mode="upsert")):
                    conn.execute(sql, {"partition_hour": hour.replace(tzinfo=None)})
    print("done")
    """
)


def start_load(stack, schema: str, bucket: str, what: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", LOAD, stack.warehouse_dsn(), schema, bucket, what],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_query(conn: psycopg.Connection, fragment: str, timeout: float = 60) -> None:
    """Block until the fault-test session is running a statement containing ``fragment``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = 'fault-test' "
            "AND state = 'active'"
        ).fetchall()
        if any(fragment in q for (q,) in rows):
            return
        time.sleep(0.05)
    raise AssertionError(f"the load never ran {fragment!r}")


def snapshot(conn: psycopg.Connection) -> dict[str, int]:
    return {
        table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("staging_events", "staging_partitions", "load_ledger", "songplays")
    }


@pytest.fixture
def big_hour(schema_ready, s3, bucket):
    lines = [
        json.dumps(
            {
                "artist": "A",
                "auth": "Logged In",
                "firstName": "F",
                "gender": "F",
                "itemInSession": i % 100,
                "lastName": "L",
                "length": 200.5,
                "level": "free",
                "location": "X",
                "method": "PUT",
                "page": "NextSong",
                "registration": 1.0,
                "sessionId": i // 100,
                "song": "S",
                "status": 200,
                "ts": T0 + i,
                "userAgent": "UA",
                "userId": str(i % 300),
            }
        )
        for i in range(EVENTS)
    ]
    put_lines(s3, bucket, PREFIX + "big.json", lines)
    return schema_ready


def star_digest(conn: psycopg.Connection) -> dict[str, tuple]:
    """Row count and an order-independent digest of each star schema table."""
    return {
        table: conn.execute(
            f"SELECT COUNT(*), md5(string_agg(r::text, '|' ORDER BY r::text)) FROM {table} AS r"
        ).fetchone()
        for table in ("songplays", "users", '"time"', "songs", "artists")
    }


def current_schema(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT current_schema()").fetchone()[0]


def test_staging_killed_mid_copy_leaves_nothing_then_retry_completes(stack, big_hour, bucket):
    conn = big_hour
    schema = current_schema(conn)
    load = start_load(stack, schema, bucket, "stage")
    wait_for_query(conn, "COPY staging_events")
    load.send_signal(signal.SIGKILL)
    load.wait(timeout=30)
    time.sleep(0.5)  # the server notices the dead client and rolls back
    assert snapshot(conn) == {
        "staging_events": 0,
        "staging_partitions": 0,
        "load_ledger": 0,
        "songplays": 0,
    }
    retry = start_load(stack, schema, bucket, "stage")
    assert retry.wait(timeout=300) == 0, retry.stderr.read()
    assert snapshot(conn)["staging_events"] == EVENTS


def test_model_killed_mid_insert_leaves_the_partition_as_it_was(stack, big_hour, bucket):
    conn = big_hour
    schema = current_schema(conn)
    stage = start_load(stack, schema, bucket, "stage")
    assert stage.wait(timeout=300) == 0, stage.stderr.read()
    model = start_load(stack, schema, bucket, "model")
    assert model.wait(timeout=300) == 0, model.stderr.read()
    undisturbed = star_digest(conn)
    assert undisturbed["songplays"][0] == EVENTS
    again = start_load(stack, schema, bucket, "model")
    wait_for_query(conn, "INSERT INTO songplays")
    again.send_signal(signal.SIGKILL)
    again.wait(timeout=30)
    # The hour's loads were one transaction: the killed re-run removed and added nothing.
    deadline = time.monotonic() + 30
    while (
        conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'fault-test'"
        ).fetchone()[0]
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert star_digest(conn) == undisturbed


def test_database_restart_during_staging_then_retry_matches(stack, big_hour, bucket):
    schema = current_schema(big_hour)
    watcher = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
    load = start_load(stack, schema, bucket, "stage")
    wait_for_query(watcher, "COPY staging_events")
    watcher.close()
    stack.restart_postgres()
    assert load.wait(timeout=60) != 0  # the load saw its connection drop
    conn = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
    conn.execute(f"SET search_path TO {schema}")
    assert snapshot(conn)["staging_events"] == 0
    retry = start_load(stack, schema, bucket, "stage")
    assert retry.wait(timeout=300) == 0, retry.stderr.read()
    assert snapshot(conn) == {
        "staging_events": EVENTS,
        "staging_partitions": 1,
        "load_ledger": 1,
        "songplays": 0,
    }
    conn.close()
