"""Fixtures for tests against the real PostgreSQL server and S3 endpoint."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest

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
