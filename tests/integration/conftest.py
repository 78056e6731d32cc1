"""Fixtures for tests against the real PostgreSQL server and S3 endpoint."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from sparkify.local.redshift.server import Config, RehearsalServer
from sparkify.local.stack.config import HOST, WAREHOUSE_READ_ROLE, WAREHOUSE_ROLE
from sparkify.pipeline import settings


@pytest.fixture
def warehouse(stack, monkeypatch: pytest.MonkeyPatch):
    """A fresh schema in the warehouse database, made the ``warehouse`` connection's default.

    Yields an autocommit psycopg connection whose search_path is that schema.
    """
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"SET search_path TO {schema}")
    airflow_conn = json.loads(os.environ["AIRFLOW_CONN_WAREHOUSE"])
    airflow_conn["extra"] = {"options": f"-c search_path={schema}"}
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps(airflow_conn))
    try:
        yield conn
    finally:
        try:
            conn.execute("SELECT 1")
        except psycopg.OperationalError:  # a fault test restarted the server under it
            conn = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


@pytest.fixture
def s3(stack):
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])


@pytest.fixture
def bucket(s3, monkeypatch: pytest.MonkeyPatch):
    """A fresh bucket on the S3 endpoint, made the pipeline's source bucket."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    monkeypatch.setenv("SPARKIFY_BUCKET", name)
    settings.current.cache_clear()
    yield name
    settings.current.cache_clear()
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        for item in page.get("Contents", ()):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def schema_ready(warehouse):
    """The warehouse schema, created by the project's own DDL."""
    from sparkify.pipeline.sql import render, statements

    for sql in statements(render("schema/create_tables")):
        warehouse.execute(sql)
    return warehouse


def put_lines(s3, bucket: str, key: str, lines: list[str | bytes], *, final_newline=True) -> None:
    raw = b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines)
    s3.put_object(Bucket=bucket, Key=key, Body=raw + (b"\n" if final_newline else b""))


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


# -- the Redshift rehearsal ----------------------------------------------------------------------
@contextlib.contextmanager
def running_rehearsal(stack, *, s3: Any = None, isolation: str = "read committed") -> Iterator[int]:
    """The Redshift rehearsal in this process, in front of the stack's PostgreSQL, on a free
    port of 127.0.0.1; yields the port. ``s3``: the client its COPY reads with (default: the
    environment's endpoint); ``isolation``: its sessions' (``serializable`` as Redshift's)."""
    config = Config(
        backend_host=HOST,
        backend_port=stack.config["ports"]["postgres"],
        password=stack.config["secrets"]["warehouse_password"],
        # the SELECT-only reader, as the stack's rehearsal has it
        users={WAREHOUSE_READ_ROLE: stack.config["secrets"]["warehouse_read_password"]},
        s3=s3,
        isolation=isolation,
    )
    server = RehearsalServer((HOST, 0), config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def fresh_database(stack) -> Iterator[str]:
    """A new database owned by the warehouse role, dropped afterwards. The Redshift path
    gets one per test: the driver cannot pass a search_path."""
    name = f"rs_{uuid.uuid4().hex[:12]}"
    cluster = stack._postgres(stack.config)
    cluster.ensure_database(
        name, owner=WAREHOUSE_ROLE, password=stack.config["secrets"]["warehouse_password"]
    )
    try:
        yield name
    finally:
        cluster.drop_database(name)


def redshift_connect(stack, port: int, database: str, **kwargs: Any):
    """A ``redshift_connector`` connection through the rehearsal on ``port``, as
    ``RedshiftSQLHook.get_conn()`` makes it for the stack's ``redshift`` connection."""
    import redshift_connector

    return redshift_connector.connect(
        host=HOST,
        port=port,
        database=database,
        user=kwargs.pop("user", WAREHOUSE_ROLE),
        password=kwargs.pop("password", stack.config["secrets"]["warehouse_password"]),
        ssl=False,
        **kwargs,
    )


def use_redshift_warehouse(
    stack, port: int, database: str, monkeypatch: pytest.MonkeyPatch, **extra: Any
) -> settings.Settings:
    """Point the pipeline's ``warehouse`` connection at the rehearsal on ``port`` (a
    ``redshift`` connection, as the stack gives it, ``extra`` added to its extra), with the
    rehearsal's IAM role; returns the settings staging then reads."""
    from sparkify.local.stack.config import REHEARSAL_IAM_ROLE

    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE",
        json.dumps(
            {
                "conn_type": "redshift",
                "host": HOST,
                "port": port,
                "login": WAREHOUSE_ROLE,
                "password": stack.config["secrets"]["warehouse_password"],
                "schema": database,
                "extra": {"ssl": False, **extra},
            }
        ),
    )
    monkeypatch.setenv("SPARKIFY_IAM_ROLE", REHEARSAL_IAM_ROLE)
    settings.current.cache_clear()
    return settings.current()


def backend_connect(stack, database: str) -> psycopg.Connection:
    """An autocommit psycopg connection to ``database`` on the stack's PostgreSQL itself,
    beside the rehearsal: for looking at what the Redshift path left."""
    return psycopg.connect(
        host=HOST,
        port=stack.config["ports"]["postgres"],
        user=WAREHOUSE_ROLE,
        password=stack.config["secrets"]["warehouse_password"],
        dbname=database,
        autocommit=True,
    )


@pytest.fixture
def rehearsal(stack) -> Iterator[int]:
    """A Redshift rehearsal server in this process; yields its port."""
    with running_rehearsal(stack) as port:
        yield port


@pytest.fixture
def rehearsal_database(stack) -> Iterator[str]:
    """A fresh database for the Redshift path; yields its name."""
    with fresh_database(stack) as name:
        yield name
