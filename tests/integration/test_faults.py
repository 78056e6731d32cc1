"""Loads interrupted at any point leave nothing partial; the retry ends as an undisturbed run.

The loads run in a child process (as Airflow's task processes do) which is killed, whose
database is restarted, or whose S3 endpoint goes away, while its transaction is open. Each
time the tables must hold exactly what they held before, and after the retry exactly what
an undisturbed run leaves.
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
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.integration.conftest import put_lines
from tests.integration.tcp_proxy import CuttableProxy

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
    from sparkify.pipeline.sql import MODEL_LOADS, render, statements
    from sparkify.pipeline.staging import postgres
    from sparkify.pipeline.staging.objects import S3Objects

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


def start_load(
    stack, schema: str, bucket: str, what: str, *, s3_url: str | None = None
) -> subprocess.Popen:
    env = dict(os.environ)
    if s3_url:
        env["AWS_ENDPOINT_URL"] = s3_url
    return subprocess.Popen(
        [sys.executable, "-c", LOAD, stack.warehouse_dsn(), schema, bucket, what],
        env=env,
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


# Every staging-side table, without the columns that say when a row was written.
STAGING_TABLES = {
    "staging_events": "*",
    "staging_rejects": "dataset, partition_hour, source_key, line_no, reason, raw_text",
    "load_ledger": "dataset, source_key, etag, size_bytes, partition_hour, rows_read, "
    "rows_staged, rows_rejected, rows_duplicate, rows_coerced",
    "staging_partitions": "dataset, partition_hour, objects, rows_read, rows_staged, "
    "rows_rejected, rows_duplicate, rows_coerced, drift",
}


# The star schema, whole.
STAR_TABLES = dict.fromkeys(("songplays", "users", '"time"', "songs", "artists"), "*")


def digest(conn: psycopg.Connection, tables: dict[str, str]) -> dict[str, tuple]:
    """Per table, the row count and an order-independent digest of the columns given."""
    return {
        table: conn.execute(
            f"SELECT COUNT(*), md5(string_agg(r::text, '|' ORDER BY r::text)) "
            f"FROM (SELECT {columns} FROM {table}) AS r"
        ).fetchone()
        for table, columns in tables.items()
    }


EMPTY = dict.fromkeys(STAGING_TABLES, (0, None))


def undisturbed_staging(stack, conn: psycopg.Connection, bucket: str) -> dict[str, tuple]:
    """What one undisturbed staging run leaves; the tables are emptied again after it."""
    load = start_load(stack, current_schema(conn), bucket, "stage")
    assert load.wait(timeout=300) == 0, load.stderr.read()
    undisturbed = digest(conn, STAGING_TABLES)
    assert undisturbed["staging_events"][0] == EVENTS
    conn.execute(f"TRUNCATE {', '.join(STAGING_TABLES)}")
    assert digest(conn, STAGING_TABLES) == EMPTY
    return undisturbed


def wait_until_gone(conn: psycopg.Connection, timeout: float = 30) -> None:
    """Until the server has noticed the dead client and rolled its transaction back."""
    deadline = time.monotonic() + timeout
    while (
        conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'fault-test'"
        ).fetchone()[0]
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)


def current_schema(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT current_schema()").fetchone()[0]


def test_staging_killed_mid_copy_leaves_nothing_then_retry_completes(stack, big_hour, bucket):
    conn = big_hour
    schema = current_schema(conn)
    undisturbed = undisturbed_staging(stack, conn, bucket)
    load = start_load(stack, schema, bucket, "stage")
    wait_for_query(conn, "COPY staging_events")
    load.send_signal(signal.SIGKILL)
    load.wait(timeout=30)
    wait_until_gone(conn)
    assert digest(conn, STAGING_TABLES) == EMPTY
    retry = start_load(stack, schema, bucket, "stage")
    assert retry.wait(timeout=300) == 0, retry.stderr.read()
    assert digest(conn, STAGING_TABLES) == undisturbed


def test_s3_endpoint_gone_mid_object_leaves_nothing_then_retry_completes(
    stack, big_hour, bucket, s3
):
    conn = big_hour
    schema = current_schema(conn)
    undisturbed = undisturbed_staging(stack, conn, bucket)
    size = s3.head_object(Bucket=bucket, Key=PREFIX + "big.json")["ContentLength"]
    endpoint = urlsplit(os.environ["AWS_ENDPOINT_URL"])
    # The endpoint goes away once half of the object has gone through: mid-COPY.
    proxy = CuttableProxy((endpoint.hostname, endpoint.port), cut_after=size // 2)
    load = start_load(stack, schema, bucket, "stage", s3_url=proxy.url)
    assert load.wait(timeout=120) != 0, "the load must fail when its source goes away"
    assert size // 2 <= proxy.bytes_forwarded < size
    wait_until_gone(conn)
    assert digest(conn, STAGING_TABLES) == EMPTY
    retry = start_load(stack, schema, bucket, "stage")
    assert retry.wait(timeout=300) == 0, retry.stderr.read()
    assert digest(conn, STAGING_TABLES) == undisturbed


def test_model_killed_mid_insert_leaves_the_partition_as_it_was(stack, big_hour, bucket):
    conn = big_hour
    schema = current_schema(conn)
    stage = start_load(stack, schema, bucket, "stage")
    assert stage.wait(timeout=300) == 0, stage.stderr.read()
    model = start_load(stack, schema, bucket, "model")
    assert model.wait(timeout=300) == 0, model.stderr.read()
    undisturbed = digest(conn, STAR_TABLES)
    assert undisturbed["songplays"][0] == EVENTS
    again = start_load(stack, schema, bucket, "model")
    wait_for_query(conn, "INSERT INTO songplays")
    again.send_signal(signal.SIGKILL)
    again.wait(timeout=30)
    # The hour's loads were one transaction: the killed re-run removed and added nothing.
    wait_until_gone(conn)
    assert digest(conn, STAR_TABLES) == undisturbed


def test_database_restart_during_staging_then_retry_matches(stack, big_hour, bucket):
    schema = current_schema(big_hour)
    undisturbed = undisturbed_staging(stack, big_hour, bucket)
    watcher = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
    load = start_load(stack, schema, bucket, "stage")
    wait_for_query(watcher, "COPY staging_events")
    watcher.close()
    stack.restart_postgres()
    assert load.wait(timeout=60) != 0  # the load saw its connection drop
    conn = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
    conn.execute(f"SET search_path TO {schema}")
    assert digest(conn, STAGING_TABLES) == EMPTY
    retry = start_load(stack, schema, bucket, "stage")
    assert retry.wait(timeout=300) == 0, retry.stderr.read()
    assert digest(conn, STAGING_TABLES) == undisturbed
    assert digest(conn, STAR_TABLES)["songplays"][0] == 0
    conn.close()
