"""Song staging against a catalogue listed a page at a time (real PostgreSQL, real S3 API).

``stage_songs`` filters the listing against the load ledger in chunks of keys, so neither
the catalogue nor the ledger is held whole; what is new or changed is found across chunk
and page boundaries (more objects than one ledger lookup takes, and than one LIST page).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg
import pytest

from sparkify.pipeline.staging import postgres
from sparkify.pipeline.staging.ledger import INSERT_CHUNK
from sparkify.pipeline.staging.objects import Listing, S3Objects

pytestmark = pytest.mark.integration

CATALOGUE = 2 * INSERT_CHUNK + 234  # three ledger lookups; over one LIST page (1,000)
H1 = datetime(2018, 11, 1, 0, tzinfo=UTC)
H2 = datetime(2018, 11, 1, 1, tzinfo=UTC)
H3 = datetime(2018, 11, 1, 2, tzinfo=UTC)


def song(i: int, title: str = "Song") -> bytes:
    return json.dumps(
        {
            "num_songs": 1,
            "artist_id": f"AR{i:016d}",
            "artist_latitude": None,
            "artist_longitude": None,
            "artist_location": "",
            "artist_name": f"Artist {i}",
            "song_id": f"SO{i:016d}",
            "title": f"{title} {i}",
            "duration": 200.5,
            "year": 2000,
        }
    ).encode()


def key(i: int) -> str:
    return f"song_data/{'ABC'[i % 3]}/{'XYZ'[i % 3]}/Q/TR{i:016d}.json"


def put_songs(s3, bucket: str, numbers, title: str = "Song") -> None:
    for i in numbers:
        s3.put_object(Bucket=bucket, Key=key(i), Body=song(i, title))


def stage(conn: psycopg.Connection, s3, bucket: str, hour: datetime):
    source = S3Objects(s3, bucket)
    return postgres.stage_songs(conn, source, Listing(source, "song_data/"), hour)


def test_only_new_and_changed_song_files_load_whatever_page_they_are_on(
    schema_ready, s3, bucket
) -> None:
    put_songs(s3, bucket, range(CATALOGUE))
    conn = schema_ready
    first = stage(conn, s3, bucket, H1)
    assert (first.objects, first.staged, first.rejected) == (CATALOGUE, CATALOGUE, 0)

    # New files, and two changed ones, spread over the listing and its lookup chunks.
    new = [CATALOGUE, CATALOGUE + 1, CATALOGUE + 7]
    changed = [INSERT_CHUNK - 1, INSERT_CHUNK]
    put_songs(s3, bucket, new)
    put_songs(s3, bucket, changed, title="Remastered")
    second = stage(conn, s3, bucket, H2)
    assert second.objects == len(new) + len(changed)
    assert sorted(second.source_keys) == sorted(key(i) for i in new + changed)

    third = stage(conn, s3, bucket, H3)
    assert (third.objects, third.staged) == (0, 0)

    titles = dict(
        conn.execute(
            "SELECT song_id, title FROM staging_songs WHERE song_id = ANY(%s)",
            [[f"SO{i:016d}" for i in changed]],
        ).fetchall()
    )
    assert sorted(titles.values()) == [f"Remastered {i}" for i in changed]
    (staged,) = conn.execute("SELECT COUNT(*) FROM staging_songs").fetchone()
    (ledger,) = conn.execute("SELECT COUNT(*) FROM load_ledger WHERE dataset = 'songs'").fetchone()
    assert staged == ledger == CATALOGUE + len(new)


def test_the_demo_summary_says_which_rows_lie_outside_its_range(schema_ready, stack) -> None:
    """``tables`` counts the whole warehouse; ``outside_range`` says how much of it is not
    the range's (a warehouse used before, or the live schedule's hour)."""
    from sparkify.local.summary import warehouse_summary

    schema = schema_ready.execute("SELECT current_schema()").fetchone()[0]
    for hour in ("2018-11-01 05:00", "2018-11-02 05:00", "2026-12-01 10:00"):
        schema_ready.execute(
            "INSERT INTO staging_songs (song_id, source_key, partition_hour, title) "
            "VALUES (%s, %s, %s, 'x')",
            (f"SO-{hour}", f"song_data/{hour}.json", hour),
        )
    dsn = f"{stack.warehouse_dsn()} options='-csearch_path={schema}'"
    inside = warehouse_summary(dsn, H1, datetime(2018, 11, 2, 23, tzinfo=UTC))
    assert inside["tables"]["staging_songs"] == 3
    assert inside["outside_range"] == {"staging_events": 0, "staging_songs": 1, "songplays": 0}
    one_day = warehouse_summary(dsn, H1, datetime(2018, 11, 1, 23, tzinfo=UTC))
    assert one_day["outside_range"]["staging_songs"] == 2
