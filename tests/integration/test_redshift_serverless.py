"""Provisioned and Serverless Redshift: COPY's refusals read from each one's error table.

A Serverless workgroup has no ``stl_load_errors``; its COPY errors are in
``sys_load_error_detail`` (file and line, no raw text). The connection's ``is_serverless``
extra, the amazon provider's own switch, tells staging which to read. The rehearsal fills
both tables, so the same hour staged each way must give the same rejects, keyed by object
key and line, and only the provisioned path keeps the raw line.
"""

from __future__ import annotations

import json

import pytest

from sparkify.local.stack.config import HOST, REHEARSAL_IAM_ROLE, WAREHOUSE_ROLE
from sparkify.pipeline import partitions, settings
from sparkify.pipeline.sql import render, statements
from tests.integration.conftest import (
    backend_connect,
    fresh_database,
    put_lines,
    redshift_connect,
    repo_root,
)

pytestmark = pytest.mark.integration

KEY = "log_data/2018/11/02/13/a.json"


def event(i: int, **changes: object) -> str:
    base = {
        "ts": 1541163600000 + i * 1000,
        "sessionId": 3,
        "itemInSession": i,
        "page": "NextSong",
        "userId": "7",
        "level": "free",
        "song": "S",
        "artist": "A",
        "length": 100.0,
    }
    return json.dumps({**base, **changes})


LINES = [
    event(0),
    event(1, itemInSession="not a number"),  # COPY refuses it: load error 1207
    "{broken",  # not JSON: 1216
    event(3),
    event(4, sessionId="x"),
]


def stage_hour(stack, rehearsal, s3, bucket, monkeypatch, extra: dict) -> list[tuple]:
    from airflow.providers.amazon.aws.hooks.redshift_sql import RedshiftSQLHook

    from sparkify.pipeline.staging.objects import S3Objects
    from sparkify.pipeline.staging.redshift import stage_redshift

    with fresh_database(stack) as database:
        conn = redshift_connect(stack, rehearsal, database)
        cur = conn.cursor()
        for sql in statements(render("schema/create_tables", "redshift")):
            cur.execute(sql)
        conn.commit()
        conn.close()
        monkeypatch.setenv(
            "AIRFLOW_CONN_WAREHOUSE",
            json.dumps(
                {
                    "conn_type": "redshift",
                    "host": HOST,
                    "port": rehearsal,
                    "login": WAREHOUSE_ROLE,
                    "password": stack.config["secrets"]["warehouse_password"],
                    "schema": database,
                    "extra": {"ssl": False, **extra},
                }
            ),
        )
        monkeypatch.setenv("SPARKIFY_IAM_ROLE", REHEARSAL_IAM_ROLE)
        settings.current.cache_clear()
        cfg = settings.current()
        source = S3Objects(s3, bucket)
        hour = partitions.parse_key("2018-11-02T13:00:00")
        prefix = partitions.events_prefix(cfg.events_prefix, hour)
        stats = stage_redshift(
            RedshiftSQLHook(redshift_conn_id="warehouse"),
            source,
            source.list(prefix),
            hour,
            prefix,
            dataset="events",
            settings=cfg,
        )
        assert (stats.read, stats.staged, stats.rejected) == (5, 2, 3)
        with backend_connect(stack, database) as look:
            return look.execute(
                "SELECT source_key, line_no, reason, raw_text FROM staging_rejects ORDER BY line_no"
            ).fetchall()


def test_serverless_and_provisioned_keep_the_same_rejects(
    stack, rehearsal, s3, bucket, monkeypatch
) -> None:
    put_lines(s3, bucket, KEY, LINES)
    jsonpaths = (repo_root() / "config" / "log_json_path.json").read_bytes()
    s3.put_object(Bucket=bucket, Key="log_json_path.json", Body=jsonpaths)

    provisioned = stage_hour(stack, rehearsal, s3, bucket, monkeypatch, {})
    serverless = stage_hour(stack, rehearsal, s3, bucket, monkeypatch, {"is_serverless": True})

    # The object's key (not its s3:// URL) and the line, as on PostgreSQL.
    assert [(k, n) for k, n, _, _ in provisioned] == [(KEY, 2), (KEY, 3), (KEY, 5)]
    assert [(k, n) for k, n, _, _ in serverless] == [(KEY, 2), (KEY, 3), (KEY, 5)]
    assert all(r.startswith("copy_error:") for _, _, r, _ in provisioned + serverless)
    assert [r for *_, r in provisioned] == [LINES[1], LINES[2], LINES[4]]
    # sys_load_error_detail has no raw line.
    assert [r for *_, r in serverless] == [None, None, None]
