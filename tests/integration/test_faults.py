"""Loads interrupted at any point leave nothing partial; the retry ends as an undisturbed run.

The loads run in a child process (as Airflow's task processes do) which is killed, whose
warehouse is restarted, or whose S3 endpoint goes away, while its transaction is open. Each
time the tables must hold exactly what they held before, and after the retry exactly what
an undisturbed run leaves.

Every case runs on both warehouse paths (the ``target`` fixture):

- ``postgres``: psycopg, ``sparkify.pipeline.staging.postgres`` (``COPY ... FROM STDIN``)
  and the model's PostgreSQL SQL, in a fresh schema;
- ``redshift``: ``redshift_connector`` through the Redshift rehearsal, as
  ``RedshiftSQLHook`` connects, in a fresh database created by the Redshift DDL;
  ``sparkify.pipeline.staging.redshift.stage_redshift`` (Redshift's ``COPY ... FORMAT AS
  JSON`` through a manifest, which the rehearsal carries out from the S3 endpoint on the
  client's own backend connection) and the model's ``*.redshift.sql`` rendering, bound
  with ``bind_named_parameters()``. There the S3 endpoint that goes away is the one
  Redshift's COPY reads (the rehearsal's), and "warehouse restarted" is each of what can
  restart under the driver: the PostgreSQL server behind the rehearsal, and the rehearsal
  process itself (the endpoint the driver is connected to).

A fault is known to land while the load's transaction is open: the statement it
interrupts is seen running in ``pg_stat_activity`` inside a transaction begun before it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import psycopg
import pytest

from sparkify.local.stack.config import HOST, REHEARSAL_IAM_ROLE, WAREHOUSE_ROLE
from sparkify.local.stack.process import free_port
from sparkify.pipeline.sql import render, statements
from tests.integration.conftest import (
    backend_connect,
    put_lines,
    redshift_connect,
    running_rehearsal,
)
from tests.integration.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.integration

HOUR = datetime(2018, 11, 2, 13, tzinfo=UTC)
PREFIX = "log_data/2018/11/02/13/"
T0 = 1541163600000
APPLICATION = "fault-test"  # the load's sessions, as pg_stat_activity names them

# The child process: one staging load of the hour, or the model's one transaction for it.
# Where it connects comes from $FAULT_TARGET (the password with it: never on a command line).
LOAD = textwrap.dedent(
    """
    import json, os, sys
    from datetime import UTC, datetime
    from types import SimpleNamespace
    import boto3
    from sparkify.pipeline import partitions, settings
    from sparkify.pipeline.sql import MODEL_LOADS, render, statements
    from sparkify.pipeline.staging.objects import S3Objects

    target = json.loads(os.environ["FAULT_TARGET"])
    bucket, what = sys.argv[1:3]
    hour = datetime(2018, 11, 2, 13, tzinfo=UTC)
    prefix = "log_data/2018/11/02/13/"
    params = partitions.Window.of_hour(hour).params()  # the model binds the run's window
    source = S3Objects(boto3.client("s3"), bucket)
    if target["dialect"] == "postgres":
        import psycopg
        from sparkify.pipeline.staging import postgres

        conn = psycopg.connect(
            target["dsn"], options=f"-c search_path={target['schema']}",
            application_name=target["application_name"],
        )
        if what == "stage":
            postgres.stage_events(conn, source, source.list(prefix), hour, force=True)
        else:
            with conn.transaction():  # as the model DAG's one task runs the hour
                for name in MODEL_LOADS:
                    for sql in statements(render(name, mode="upsert")):
                        conn.execute(sql, params)
    else:
        import redshift_connector
        from sparkify.pipeline.staging.redshift import stage_redshift
        from sparkify.pipeline.warehouse import bind_named_parameters

        def connect():  # as RedshiftSQLHook.get_conn() connects
            return redshift_connector.connect(
                host=target["host"], port=target["port"], database=target["database"],
                user=target["user"], password=target["password"], ssl=False,
                application_name=target["application_name"],
            )

        if what == "stage":
            hook = SimpleNamespace(get_conn=connect, conn_type="redshift")
            stage_redshift(hook, source, source.list(prefix), hour, prefix, dataset="events",
                           settings=settings.current())
        else:
            # As SqlFileOperator runs the model: RedshiftSQLHook.run(autocommit=False), every
            # statement on one cursor, one commit at the end.
            bind_named_parameters()
            conn = connect()
            with conn.cursor() as cur:
                for name in MODEL_LOADS:
                    for sql in statements(render(name, "redshift", mode="upsert")):
                        cur.execute(sql, params)
            conn.commit()
    print("done")
    """
)


@dataclass
class Target:
    """Where a fault test's loads go, and how to look at what they left."""

    dialect: str
    child: dict[str, Any]  # how the child process reaches the warehouse
    look: Callable[[], psycopg.Connection]  # a new autocommit connection to the load's tables
    # What the warehouse's PostgreSQL runs while staging's COPY is under way: on Redshift's
    # path, the rehearsal feeding the rows it reads from S3 into the load's temporary table.
    copy_running: str
    events: int  # the hour's events, in ``objects`` objects of equal size
    objects: int = 1
    env: dict[str, str] = field(default_factory=dict)  # the child's environment, added


def start_load(
    target: Target, bucket: str, what: str, *, s3_url: str | None = None, port: int | None = None
) -> subprocess.Popen:
    """The child process running ``what`` (``stage`` or ``model``) against ``target``;
    ``s3_url``: its S3 endpoint (PostgreSQL's path reads S3 itself); ``port``: another
    rehearsal to connect to (Redshift's path)."""
    child = dict(target.child, application_name=APPLICATION)
    if port is not None:
        child["port"] = port
    env = {**os.environ, **target.env, "FAULT_TARGET": json.dumps(child)}
    if s3_url:
        env["AWS_ENDPOINT_URL"] = s3_url
    return subprocess.Popen(
        [sys.executable, "-c", LOAD, bucket, what],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(load: subprocess.Popen, timeout: float = 300) -> None:
    """Wait for a load that must succeed."""
    out, err = load.communicate(timeout=timeout)
    assert load.returncode == 0, err
    assert out.strip() == "done"


def kill(load: subprocess.Popen) -> None:
    """SIGKILL the load, and check that the signal, not the end of its work, ended it."""
    load.send_signal(signal.SIGKILL)
    out, _err = load.communicate(timeout=30)
    assert load.returncode == -signal.SIGKILL
    assert "done" not in out


def wait_for_query(
    conn: psycopg.Connection, fragment: str, *, waiting_on_lock: bool = False, timeout: float = 120
) -> str:
    """Block until the load's session runs a statement containing ``fragment`` inside a
    transaction that began before that statement and has written (it has a transaction
    id), so that a fault from now on lands in an open transaction that has done work;
    with ``waiting_on_lock``, while the statement waits for a lock. Returns that
    transaction's id, for ``assert_aborted``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = conn.execute(
            "SELECT query, backend_xid::text, wait_event_type FROM pg_stat_activity "
            "WHERE application_name = %s AND state = 'active' AND xact_start < query_start "
            "AND backend_xid IS NOT NULL",
            (APPLICATION,),
        ).fetchall()
        for query, xid, wait in rows:
            if fragment in query and (wait == "Lock" or not waiting_on_lock):
                return xid
        time.sleep(0.05)
    raise AssertionError(f"the load never ran {fragment!r} in an open transaction")


def assert_aborted(conn: psycopg.Connection, xid: str) -> None:
    """The load's transaction ended rolled back: it neither committed nor is still open."""
    (status,) = conn.execute(
        # backend_xid is 32 bits; pg_xact_status wants the 64-bit id: add the current epoch.
        "SELECT pg_xact_status((((pg_snapshot_xmax(pg_current_snapshot())::text::bigint "
        ">> 32) << 32) | %s::bigint)::text::xid8)",
        (xid,),
    ).fetchone()
    assert status == "aborted"


def wait_until_gone(conn: psycopg.Connection, timeout: float = 90) -> None:
    """Until the server has noticed the dead client and rolled its transaction back."""
    deadline = time.monotonic() + timeout
    while conn.execute(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = %s", (APPLICATION,)
    ).fetchone()[0]:
        assert time.monotonic() < deadline, "the load's session outlived it"
        time.sleep(0.1)


# -- the two warehouse paths ---------------------------------------------------------------------
def postgres_target(stack, conn: psycopg.Connection) -> Target:
    schema = current_schema(conn)

    def look() -> psycopg.Connection:
        again = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
        again.execute(f"SET search_path TO {schema}")
        return again

    child = {"dialect": "postgres", "dsn": stack.warehouse_dsn(), "schema": schema}
    return Target("postgres", child, look, "COPY staging_events", events=150_000)


def redshift_target(stack, port: int, database: str, s3, bucket: str) -> Target:
    """A fresh database with the Redshift DDL applied through the rehearsal."""
    conn = redshift_connect(stack, port, database)
    with conn.cursor() as cur:
        for sql in statements(render("schema/create_tables", "redshift")):
            cur.execute(sql)
    conn.commit()
    conn.close()
    child = {
        "dialect": "redshift",
        "host": HOST,
        "port": port,
        "database": database,
        "user": WAREHOUSE_ROLE,
        "password": stack.config["secrets"]["warehouse_password"],
    }
    return Target(
        "redshift",
        child,
        lambda: backend_connect(stack, database),
        # The rehearsal feeds the COPY's lines to PostgreSQL as COPY "load_lines" FROM STDIN.
        'COPY "load_lines"',
        # Fewer events than on PostgreSQL, in objects of 500 lines: the rehearsal reads them
        # from S3 and through its own process, so this COPY is still long enough to be
        # caught under way; and the PostgreSQL behind it, without Redshift's indexes or its
        # hash joins on fresh tables, judges lines and models plays far slower than either.
        events=10_000,
        objects=20,
        env={"SPARKIFY_IAM_ROLE": REHEARSAL_IAM_ROLE},
    )


@pytest.fixture(params=["postgres", "redshift"])
def target(request, stack, s3, bucket) -> Target:
    """Where the loads go: a fresh schema (PostgreSQL) or database (Redshift's path), its
    tables created by that warehouse's DDL."""
    if request.param == "postgres":
        return postgres_target(stack, request.getfixturevalue("schema_ready"))
    port = request.getfixturevalue("rehearsal")
    return redshift_target(stack, port, request.getfixturevalue("rehearsal_database"), s3, bucket)


@pytest.fixture
def big_hour(target: Target, s3, bucket) -> Iterator[psycopg.Connection]:
    """The hour's events landed; yields a connection looking at ``target``."""
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
        for i in range(target.events)
    ]
    per_object = target.events // target.objects
    for n in range(target.objects):
        put_lines(s3, bucket, f"{PREFIX}part-{n:03d}.json", lines[n * per_object :][:per_object])
    conn = target.look()
    try:
        yield conn
    finally:
        conn.close()


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


def undisturbed_staging(target: Target, conn: psycopg.Connection, bucket: str) -> dict:
    """What one undisturbed staging run leaves; the tables are emptied again after it."""
    finish(start_load(target, bucket, "stage"))
    undisturbed = digest(conn, STAGING_TABLES)
    assert undisturbed["staging_events"][0] == target.events
    assert undisturbed["staging_partitions"][0] == 1
    conn.execute(f"TRUNCATE {', '.join(STAGING_TABLES)}")
    assert digest(conn, STAGING_TABLES) == EMPTY
    return undisturbed


def current_schema(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT current_schema()").fetchone()[0]


# -- a rehearsal in a process of its own, for the test that restarts it --------------------------
class RehearsalProcess:
    """``python -m sparkify.local.redshift.server`` on 127.0.0.1, as the stack runs it
    (``sparkify stack up --warehouse redshift``); started, killed and started again by its
    own PID."""

    def __init__(self, stack, log: Path) -> None:
        self.stack = stack
        self.port = free_port(HOST)
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        cmd = [
            sys.executable, "-m", "sparkify.local.redshift.server", "--host", HOST,
            "--port", str(self.port),
            "--backend-port", str(self.stack.config["ports"]["postgres"]),
        ]  # fmt: skip
        env = {
            **os.environ,
            "SPARKIFY_REDSHIFT_PASSWORD": self.stack.config["secrets"]["warehouse_password"],
        }
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.log.read_text()
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            assert time.monotonic() < deadline, "the rehearsal does not accept connections"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def rehearsal_process(stack, tmp_path) -> Iterator[RehearsalProcess]:
    rehearsal = RehearsalProcess(stack, tmp_path / "rehearsal.log")
    rehearsal.start()
    try:
        yield rehearsal
    finally:
        rehearsal.stop()


# -- the faults ----------------------------------------------------------------------------------
def test_staging_killed_mid_copy_leaves_nothing_then_retry_completes(target, big_hour, bucket):
    conn = big_hour
    undisturbed = undisturbed_staging(target, conn, bucket)
    load = start_load(target, bucket, "stage")
    xid = wait_for_query(conn, target.copy_running)
    kill(load)
    wait_until_gone(conn)
    assert_aborted(conn, xid)
    assert digest(conn, STAGING_TABLES) == EMPTY
    finish(start_load(target, bucket, "stage"))
    assert digest(conn, STAGING_TABLES) == undisturbed


def test_s3_endpoint_gone_mid_object_leaves_nothing_then_retry_completes(
    stack, target, big_hour, bucket, s3
):
    conn = big_hour
    undisturbed = undisturbed_staging(target, conn, bucket)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX)["Contents"]
    size = sum(item["Size"] for item in listed)
    endpoint = urlsplit(os.environ["AWS_ENDPOINT_URL"])
    # The endpoint goes away once half of the hour's bytes have gone through: mid-COPY. On
    # PostgreSQL's path the load reads S3 itself; on Redshift's, COPY does (the rehearsal).
    proxy = CuttableProxy((endpoint.hostname, endpoint.port), cut_after=size // 2)
    with contextlib.ExitStack() as scope:
        if target.dialect == "postgres":
            load = start_load(target, bucket, "stage", s3_url=proxy.url)
        else:
            cut_s3 = boto3.client("s3", endpoint_url=proxy.url)
            port = scope.enter_context(running_rehearsal(stack, s3=cut_s3))
            load = start_load(target, bucket, "stage", port=port)
        _out, err = load.communicate(timeout=120)
    assert load.returncode != 0, "the load must fail when its source goes away"
    if target.dialect == "redshift":
        assert "COPY" in err  # Redshift's COPY failed, and the load with it
    assert size // 2 <= proxy.bytes_forwarded < size
    wait_until_gone(conn)
    assert digest(conn, STAGING_TABLES) == EMPTY
    finish(start_load(target, bucket, "stage"))
    assert digest(conn, STAGING_TABLES) == undisturbed


def test_model_killed_mid_insert_leaves_the_partition_as_it_was(target, big_hour, bucket):
    conn = big_hour
    finish(start_load(target, bucket, "stage"))
    finish(start_load(target, bucket, "model"))
    undisturbed = digest(conn, STAR_TABLES)
    assert undisturbed["songplays"][0] == target.events
    # The re-run is held inside its INSERT INTO songplays, whatever the machine's speed: that
    # statement is the first of the hour's transaction to read staging_events, which is
    # locked here. By then the transaction has loaded songs and artists and deleted the
    # hour's songplays.
    with target.look() as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE staging_events IN ACCESS EXCLUSIVE MODE")
        again = start_load(target, bucket, "model")
        xid = wait_for_query(conn, "INSERT INTO songplays", waiting_on_lock=True)
        kill(again)
        holder.execute("ROLLBACK")
    # The hour's loads were one transaction: the killed re-run removed and added nothing.
    wait_until_gone(conn)
    assert_aborted(conn, xid)
    assert digest(conn, STAR_TABLES) == undisturbed


@pytest.mark.parametrize(
    ("target", "restarted"),
    [("postgres", "server"), ("redshift", "backend"), ("redshift", "rehearsal")],
    indirect=["target"],
)
def test_warehouse_restart_during_staging_then_retry_matches(
    stack, target, big_hour, bucket, restarted, request
):
    """``server``: PostgreSQL itself. On Redshift's path, ``backend``: the PostgreSQL
    behind the rehearsal; ``rehearsal``: the rehearsal's own process, killed and started
    again, the loads connected to it."""
    undisturbed = undisturbed_staging(target, big_hour, bucket)
    big_hour.close()
    rehearsal = request.getfixturevalue("rehearsal_process") if restarted == "rehearsal" else None
    port = rehearsal.port if rehearsal else None
    with target.look() as watcher:
        load = start_load(target, bucket, "stage", port=port)
        xid = wait_for_query(watcher, target.copy_running)
        if rehearsal:
            rehearsal.kill()
    if rehearsal:
        rehearsal.start()
    else:
        stack.restart_postgres()
    _out, err = load.communicate(timeout=120)
    assert load.returncode not in (0, -signal.SIGKILL), err  # it saw its connection drop
    with target.look() as conn:
        wait_until_gone(conn)
        assert_aborted(conn, xid)
        assert digest(conn, STAGING_TABLES) == EMPTY
        finish(start_load(target, bucket, "stage", port=port))
        assert digest(conn, STAGING_TABLES) == undisturbed
        assert digest(conn, STAR_TABLES)["songplays"][0] == 0
