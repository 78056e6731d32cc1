"""Nothing is lost: generated dirty data, landed and staged, reconciles with the generator.

The generator (``sparkify.local.generate``, with ``dirty``) records every defect it injects and
the outcome staging must reach; ``sparkify land`` splits the daily files by hour. Staging
every landed hour into the real PostgreSQL must then account for each line exactly:
read = staged + rejected + duplicate, per partition and in total, with the generator's
counts of coerced lines and reject reasons.

Staging is called directly (``sparkify.pipeline.staging.postgres``), not through ``dag.test()``:
this is an accounting test over every hour, and the DAG path is covered elsewhere.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from datetime import UTC, date, timedelta

import boto3
import psycopg
import pytest

from sparkify.local.generate.dataset import generate
from sparkify.local.land import BOM, land
from sparkify.pipeline import partitions
from sparkify.pipeline.sql import render, statements
from sparkify.pipeline.staging import postgres
from sparkify.pipeline.staging.objects import S3Objects

pytestmark = pytest.mark.integration

START = date(2018, 11, 1)
# Three days, not one: the generator gives each day's file one file-level defect in turn
# (byte-order mark, CRLF endings, a truncated last line), so three days exercise all three.
DAYS = 3


@pytest.fixture(scope="module")
def dirty_dataset(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("dirty")
    manifest = generate(
        out, start=START, days=DAYS, events_per_hour=20, songs=60, dirty=0.02, seed=7,
        hostile=True,
    )  # fmt: skip
    return out, manifest


@pytest.fixture(scope="module")
def staged(stack, dirty_dataset):
    """Everything landed in a fresh bucket; every hour of the days and the songs staged.

    Module-scoped, with its own schema and bucket, so the tests below look at one staging.
    Yields the manifest, the landing report, the counts per hour and the warehouse
    connection (autocommit, search_path on the schema).
    """
    out, manifest = dirty_dataset
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    schema = f"t_{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    conn = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"SET search_path TO {schema}")
    try:
        for sql in statements(render("schema/create_tables")):
            conn.execute(sql)
        report = land(out, bucket=bucket, s3_client=s3)
        source = S3Objects(s3, bucket)
        events = {}
        last_day = START + timedelta(days=DAYS - 1)
        for hour in partitions.hours_between(START, last_day):
            objects = source.list(partitions.events_prefix("log_data", hour))
            events[partitions.format_key(hour)] = postgres.stage_events(conn, source, objects, hour)
        songs = postgres.stage_songs(
            conn, source, source.list("song_data/"), partitions.parse_key(max(events))
        )
        yield {
            "manifest": manifest,
            "report": report,
            "events": events,
            "songs": songs,
            "conn": conn,
            "s3": s3,
            "bucket": bucket,
        }
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", ()):
                s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)


def event_defects(manifest: dict, outcome: str) -> list[dict]:
    return [
        d
        for d in manifest["defects"]
        if d["outcome"] == outcome and d["file"].startswith("log_data/") and d["line"]
    ]


def test_the_data_set_has_defects_of_every_outcome(dirty_dataset) -> None:
    _, manifest = dirty_dataset
    outcomes = manifest["outcomes"]
    for outcome in ("coerced", "rejected", "duplicate"):
        assert outcomes[outcome] > 0, f"no {outcome} lines generated: nothing to reconcile"
    kinds = {d["kind"] for d in manifest["defects"]}
    assert {"bom", "crlf", "truncated"} <= kinds


def test_totals_reconcile_with_the_generator(staged) -> None:
    conn = staged["conn"]
    manifest = staged["manifest"]
    expected = manifest["outcomes"]
    totals = conn.execute(
        "SELECT SUM(rows_read), SUM(rows_staged), SUM(rows_rejected), SUM(rows_duplicate), "
        "SUM(rows_coerced) FROM staging_partitions WHERE dataset = 'events'"
    ).fetchone()
    read, staged_rows, rejected, duplicate, coerced = (int(v) for v in totals)

    # Blank lines are not records: landing leaves them out, so they are never read.
    assert staged["report"]["blank_lines"] == expected["blank"]
    assert read == manifest["totals"]["lines"] - expected["blank"]
    assert staged_rows == expected["staged"] + expected["coerced"]
    assert rejected == expected["rejected"]
    assert duplicate == expected["duplicate"]
    assert coerced == expected["coerced"]
    assert read == staged_rows + rejected + duplicate

    table = conn.execute(
        "SELECT (SELECT COUNT(*) FROM staging_events), "
        "(SELECT COUNT(*) FROM staging_rejects WHERE dataset = 'events'), "
        "(SELECT COUNT(*) FROM staging_events WHERE page = 'NextSong')"
    ).fetchone()
    assert table == (staged_rows, rejected, expected["plays_staged"])
    assert sum(s.read for s in staged["events"].values()) == read


def test_every_partition_reconciles(staged) -> None:
    conn = staged["conn"]
    manifest = staged["manifest"]
    rows = conn.execute(
        "SELECT partition_hour, rows_read, rows_staged, rows_rejected, rows_duplicate, "
        "rows_coerced FROM staging_partitions WHERE dataset = 'events'"
    ).fetchall()
    found = {partitions.format_key(r[0].replace(tzinfo=UTC)): r[1:] for r in rows}
    assert found.keys() == staged["events"].keys(), "one row per staged hour, empty ones too"
    assert set(manifest["partitions"]) <= found.keys()

    for key, (read, staged_rows, rejected, duplicate, coerced) in sorted(found.items()):
        want = manifest["partitions"].get(key)
        assert read == staged_rows + rejected + duplicate, key
        if want is None:
            assert (read, staged_rows) == (0, 0), key
            continue
        assert (read, staged_rows, rejected, duplicate, coerced) == (
            want["lines"],
            want["staged"] + want["coerced"],
            want["rejected"],
            want["duplicate"],
            want["coerced"],
        ), key
        stats = staged["events"][key]
        assert (stats.read, stats.staged, stats.rejected, stats.duplicate) == (
            read,
            staged_rows,
            rejected,
            duplicate,
        ), key
    empty = [k for k, v in found.items() if v[0] == 0]
    assert empty, "a day of this data set has empty night hours: they stage with zero rows"


def test_rejects_carry_reason_source_and_the_raw_line(staged) -> None:
    conn = staged["conn"]
    manifest = staged["manifest"]
    rejects = conn.execute(
        "SELECT partition_hour, source_key, line_no, reason, raw_text FROM staging_rejects "
        "WHERE dataset = 'events'"
    ).fetchall()

    def landed_key(partition: str, file: str) -> str:
        hour = partitions.parse_key(partition)
        return f"{partitions.events_prefix('log_data', hour)}{file.rsplit('/', 1)[1]}"

    expected = Counter(
        (d["partition"], landed_key(d["partition"], d["file"]), d["reason"])
        for d in event_defects(manifest, "rejected")
    )
    found = Counter(
        (partitions.format_key(h.replace(tzinfo=UTC)), key, reason)
        for h, key, _, reason, _ in rejects
    )
    assert found == expected
    by_reason = Counter(reason for *_, reason in expected)
    assert len(by_reason) >= 2, "several reasons to tell apart"

    # The line number points into the landed object: its line there is the raw text kept.
    bodies: dict[str, list[bytes]] = {}
    for _, key, line_no, _, raw_text in rejects:
        if key not in bodies:
            bodies[key] = (
                staged["s3"]
                .get_object(Bucket=staged["bucket"], Key=key)["Body"]
                .read()
                .split(b"\n")
            )
        line = bodies[key][line_no - 1].removeprefix(BOM).rstrip(b"\r")
        # Kept as text: its first 4,096 characters, bytes that are not UTF-8 replaced.
        assert line.decode("utf-8", "replace")[:4096] == raw_text, (key, line_no)


def test_duplicates_are_the_generated_copies(staged) -> None:
    conn = staged["conn"]
    manifest = staged["manifest"]
    per_partition = Counter(d["partition"] for d in event_defects(manifest, "duplicate"))
    rows = conn.execute(
        "SELECT partition_hour, rows_duplicate FROM staging_partitions "
        "WHERE dataset = 'events' AND rows_duplicate > 0"
    ).fetchall()
    found = {partitions.format_key(h.replace(tzinfo=UTC)): n for h, n in rows}
    assert found == dict(per_partition)
    unique = conn.execute(
        "SELECT COUNT(*) = COUNT(DISTINCT (session_id, item_in_session)) FROM staging_events"
    ).fetchone()
    assert unique == (True,)


def test_song_files_reconcile(staged) -> None:
    conn = staged["conn"]
    songs = staged["manifest"]["songs"]
    stats = staged["songs"]
    assert (stats.read, stats.staged, stats.rejected, stats.coerced) == (
        songs["files"],
        songs["staged"] + songs["coerced"],
        songs["rejected"],
        songs["coerced"],
    )
    assert stats.read == stats.staged + stats.rejected + stats.duplicate
    expected = Counter(
        (d["file"], d["reason"])
        for d in staged["manifest"]["defects"]
        if d["file"].startswith("song_data/") and d["outcome"] == "rejected"
    )
    found = Counter(
        conn.execute(
            "SELECT source_key, reason FROM staging_rejects WHERE dataset = 'songs'"
        ).fetchall()
    )
    assert found == expected
    assert conn.execute("SELECT COUNT(*) FROM staging_songs").fetchone() == (stats.staged,)


def test_extra_fields_are_reported_as_drift(staged) -> None:
    conn = staged["conn"]
    expected = Counter(
        d["field"]
        for d in event_defects(staged["manifest"], "staged")
        if d["kind"] == "extra_field"
    )
    found: Counter[str] = Counter()
    for (drift,) in conn.execute(
        "SELECT drift FROM staging_partitions WHERE dataset = 'events'"
    ).fetchall():
        found.update(json.loads(drift).get("unmapped", {}))
    assert found == expected
