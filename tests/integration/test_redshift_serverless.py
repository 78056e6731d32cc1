"""Provisioned and Serverless Redshift: COPY's refusals read from each one's error table.

A Serverless workgroup has no ``stl_load_errors``; its COPY errors are in
``sys_load_error_detail`` (file and line, no raw text). The connection's ``is_serverless``
extra, the amazon provider's own switch, tells staging which to read. The rehearsal fills
both tables, so the same hour staged each way must give the same rejects: the lines COPY
itself refuses (not UTF-8, longer than the raw column) keyed by object key and line, with
the raw line only on the provisioned path, and the lines judged in SQL after COPY the same
on both.
"""

from __future__ import annotations

import json

import pytest

from sparkify.pipeline import partitions
from sparkify.pipeline.sql import render, statements
from tests.integration.conftest import (
    backend_connect,
    fresh_database,
    redshift_connect,
    use_redshift_warehouse,
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


PREFIX = "log_data/2018/11/02/13/"
LINES = [
    event(0).encode(),
    b'{"ts": 1541163600000, "artist": "o\xffk"}',  # not UTF-8: COPY refuses it, 1220
    ('{"artist": "' + "x" * 70_000 + '"}').encode(),  # over 65,535 bytes: COPY refuses, 1204
    event(3).encode(),
    b"{broken",  # COPY loads it; SQL rejects it, not_json
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
        cfg = use_redshift_warehouse(stack, rehearsal, database, monkeypatch, **extra)
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
                "SELECT source_key, line_no, reason, LEFT(raw_text, 30) FROM staging_rejects "
                "ORDER BY line_no NULLS LAST"
            ).fetchall()


def test_serverless_and_provisioned_keep_the_same_rejects(
    stack, rehearsal, s3, bucket, monkeypatch
) -> None:
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"\n".join(LINES) + b"\n")

    provisioned = stage_hour(stack, rehearsal, s3, bucket, monkeypatch, {})
    serverless = stage_hour(stack, rehearsal, s3, bucket, monkeypatch, {"is_serverless": True})

    # COPY's refusals: the object's key (not its s3:// URL) and the line, as on PostgreSQL;
    # SQL's: the hour's prefix (Redshift's COPY does not say which line a row came from).
    expected = [
        (KEY, 2, "not_json"),
        (KEY, 3, "line_too_long"),
        (PREFIX, None, "not_json"),
    ]
    assert [(k, n, r) for k, n, r, _ in provisioned] == expected
    assert [(k, n, r) for k, n, r, _ in serverless] == expected
    # The raw line, its non-ASCII characters as "." (as Redshift writes it), first 30 here.
    assert [t for *_, t in provisioned] == [
        '{"ts": 1541163600000, "artist"',
        '{"artist": "' + "x" * 18,
        "{broken",
    ]
    # sys_load_error_detail has no raw line; the line SQL judged keeps its text.
    assert [t for *_, t in serverless] == [None, None, "{broken"]
