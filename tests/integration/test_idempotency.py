"""The partition contract through ``dag.test()``: re-runs, run order, late songs, redelivery.

The contract: running any DAG for partition H any number of times, in any order relative to
other partitions, leaves the warehouse exactly as one run would; unmatched plays are
matched again when their songs arrive; the same events delivered twice are loaded once.
Three consecutive hours of generated data are landed as ``sparkify land`` lands them.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from sparkify.local.generate.dataset import generate
from sparkify.local.land import event_key, song_key, split_by_hour
from sparkify.pipeline import partitions, settings
from sparkify.pipeline.sql import render, statements
from tests.integration.dagrun import dagbag, run_for_partition

pytestmark = pytest.mark.integration

DAY = date(2018, 11, 1)
STAGE_AND_MODEL = ("stage_events", "stage_songs", "model")
STAR_TABLES = ("songplays", "users", "songs", "artists", '"time"')
# Columns that say when a row was written, not what it holds.
LOAD_TIME = frozenset({"staged_at", "loaded_at", "rejected_at", "checked_at"})


# -- data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One generated day split by hour, and three consecutive busy hours of it."""
    out = tmp_path_factory.mktemp("idempotency")
    manifest = generate(out, start=DAY, days=1, events_per_hour=60, songs=100, match_rate=0.5)
    (day_file,) = (out / "log_data").rglob("*.json")
    split = split_by_hour(day_file, DAY, tmp_path_factory.mktemp("hours"))
    parts = {partitions.format_key(p.hour): (p, day_file.name) for p in split.parts}
    keys = sorted(manifest["partitions"])
    busy = [k for k in keys if manifest["partitions"][k]["plays_matched_staged"] >= 5]
    # keys are every hour of the day in order, so a window of three is three consecutive hours
    hours = next(
        keys[i : i + 3]
        for i in range(len(keys) - 2)
        if all(k in busy and k in parts for k in keys[i : i + 3])
    )
    return {"out": out, "manifest": manifest, "parts": parts, "hours": hours}


def land_events(s3, bucket: str, dataset: dict, key: str) -> str:
    """Land one hour's lines under its hourly prefix; returns the object key."""
    part, name = dataset["parts"][key]
    object_key = event_key(settings.current().events_prefix, part.hour, name)
    s3.put_object(Bucket=bucket, Key=object_key, Body=part.path.read_bytes())
    return object_key


def land_songs(s3, bucket: str, dataset: dict) -> int:
    out: Path = dataset["out"]
    songs = sorted((out / "song_data").rglob("*.json"))
    for path in songs:
        key = song_key(settings.current().songs_prefix, out, path)
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    return len(songs)


@pytest.fixture
def landed(s3, bucket, dataset) -> dict:
    """The three hours' events; songs are up to each test."""
    for key in dataset["hours"]:
        land_events(s3, bucket, dataset, key)
    return dataset


# -- running ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dags() -> dict:
    """The DAGs, parsed once: ``dag.test()`` runs them as often as asked."""
    bag = dagbag()
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def run(dags: dict, dag_id: str, key: str) -> None:
    dag_run = run_for_partition(dags[dag_id], key)
    assert dag_run.state == "success", f"{dag_id} for {key} ended {dag_run.state}"


def chain(dags: dict, key: str, dag_ids=STAGE_AND_MODEL) -> None:
    for dag_id in dag_ids:
        run(dags, dag_id, key)


def create_schema(conn: psycopg.Connection) -> None:
    for sql in statements(render("schema/create_tables")):
        conn.execute(sql)


@contextlib.contextmanager
def another_schema(stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection]:
    """A second fresh schema, made the ``warehouse`` connection's default while in use."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    previous = os.environ["AIRFLOW_CONN_WAREHOUSE"]
    conn = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"SET search_path TO {schema}")
    airflow_conn = json.loads(previous)
    airflow_conn["extra"] = {"options": f"-c search_path={schema}"}
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps(airflow_conn))
    try:
        create_schema(conn)
        yield conn
    finally:
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", previous)
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


# -- looking ------------------------------------------------------------------------------


def columns(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table.strip('"'),),
    ).fetchall()
    assert rows, f"no table {table}"
    return [r[0] for r in rows]


def dump(conn: psycopg.Connection, table: str, exclude=frozenset()) -> list[tuple]:
    """Every row of ``table``, sorted on all its columns, without ``exclude`` and load times."""
    cols = ", ".join(
        f'"{c}"' for c in columns(conn, table) if c not in exclude and c not in LOAD_TIME
    )
    return conn.execute(f"SELECT {cols} FROM {table} ORDER BY {cols}").fetchall()


def snapshot(conn: psycopg.Connection, tables, exclude=None) -> dict[str, list[tuple]]:
    exclude = exclude or {}
    return {t: dump(conn, t, exclude.get(t, frozenset())) for t in tables}


def matched_plays(conn: psycopg.Connection, key: str) -> tuple[int, int]:
    """(plays, plays matched to a song) of partition ``key``."""
    hour = partitions.naive_utc(partitions.parse_key(key))
    return conn.execute(
        "SELECT COUNT(*), COUNT(song_id) FROM songplays WHERE partition_hour = %s", (hour,)
    ).fetchone()


def expected_plays(dataset: dict, key: str) -> tuple[int, int]:
    """(plays, matched plays) of partition ``key`` by the generator's own count."""
    counts = dataset["manifest"]["partitions"][key]
    return counts["plays_staged"], counts["plays_matched_staged"]


# -- tests --------------------------------------------------------------------------------


def test_rerunning_a_partition_three_times_changes_nothing(
    schema_ready, s3, bucket, landed, dags
) -> None:
    conn = schema_ready
    land_songs(s3, bucket, landed)
    key = landed["hours"][0]
    tables = ("staging_events", "staging_songs", "staging_partitions", *STAR_TABLES)

    chain(dags, key)
    first = snapshot(conn, tables)
    assert matched_plays(conn, key) == expected_plays(landed, key)
    assert len(first["staging_events"]) == landed["manifest"]["partitions"][key]["staged"]
    assert all(first[t] for t in tables), "every table holds rows after one run"

    for attempt in (2, 3):
        chain(dags, key)
        assert snapshot(conn, tables) == first, f"run {attempt} changed the warehouse"


def test_partitions_in_reverse_order_give_the_same_warehouse(
    stack, schema_ready, s3, bucket, landed, dags, monkeypatch
) -> None:
    land_songs(s3, bucket, landed)
    hours = landed["hours"]
    # staging_songs.partition_hour (and source_key) say which stage_songs run loaded a song:
    # the first run of whichever partition comes first, so they differ with the order by
    # design; the song's content does not. The star schema has no such column.
    exclude = {"staging_songs": frozenset({"partition_hour", "source_key"})}
    tables = ("staging_events", "staging_songs", *STAR_TABLES)

    for key in hours:
        chain(dags, key)
    forward = snapshot(schema_ready, tables, exclude)
    for key in hours:
        assert matched_plays(schema_ready, key) == expected_plays(landed, key)

    with another_schema(stack, monkeypatch) as conn:
        for key in reversed(hours):
            chain(dags, key)
        backward = snapshot(conn, tables, exclude)
        assert {k: matched_plays(conn, k) for k in hours} == {
            k: expected_plays(landed, k) for k in hours
        }

    assert backward.keys() == forward.keys()
    for table in tables:
        assert backward[table] == forward[table], f"{table} depends on the partitions' order"


def test_late_songs_match_earlier_plays(schema_ready, s3, bucket, landed, dags) -> None:
    conn = schema_ready
    first, second = landed["hours"][:2]

    chain(dags, first)  # no song files landed yet
    plays, matched = matched_plays(conn, first)
    assert (plays, matched) == (expected_plays(landed, first)[0], 0)

    assert land_songs(s3, bucket, landed) > 0
    chain(dags, second)

    assert matched_plays(conn, first) == expected_plays(landed, first)
    assert matched_plays(conn, second) == expected_plays(landed, second)
    unmatched_with_song = conn.execute(
        "SELECT COUNT(*) FROM songplays AS p JOIN staging_events AS e "
        "ON e.session_id = p.session_id AND e.item_in_session = p.item_in_session "
        "JOIN staging_songs AS s "
        "ON s.title = e.song AND s.artist_name = e.artist AND s.duration = e.length "
        "WHERE p.song_id IS NULL"
    ).fetchone()
    assert unmatched_with_song == (0,)


def test_events_delivered_twice_are_loaded_once(schema_ready, s3, bucket, landed, dags) -> None:
    conn = schema_ready
    land_songs(s3, bucket, landed)
    key = landed["hours"][0]
    hour = partitions.naive_utc(partitions.parse_key(key))
    # Which copy's key and line a staged row records is a tie-break, not content.
    exclude = {"staging_events": frozenset({"source_key", "line_no"})}
    tables = ("staging_events", *STAR_TABLES)

    chain(dags, key)
    once = snapshot(conn, tables, exclude)
    read_once = conn.execute(
        "SELECT rows_read, rows_duplicate FROM staging_partitions "
        "WHERE dataset = 'events' AND partition_hour = %s",
        (hour,),
    ).fetchone()
    assert read_once[1] == 0

    part, name = landed["parts"][key]
    original = event_key(settings.current().events_prefix, part.hour, name)
    copy = original.rsplit("/", 1)[0] + "/redelivered-" + name
    s3.copy_object(Bucket=bucket, Key=copy, CopySource={"Bucket": bucket, "Key": original})
    copied_lines = part.lines
    assert copied_lines > 0

    chain(dags, key, ("stage_events", "model"))

    assert snapshot(conn, tables, exclude) == once
    read, staged, duplicate = conn.execute(
        "SELECT rows_read, rows_staged, rows_duplicate FROM staging_partitions "
        "WHERE dataset = 'events' AND partition_hour = %s",
        (hour,),
    ).fetchone()
    assert duplicate == copied_lines
    assert read == read_once[0] + copied_lines
    assert staged == len(once["staging_events"])
    ledger = conn.execute(
        "SELECT source_key, rows_read, rows_staged + rows_duplicate FROM load_ledger "
        "WHERE dataset = 'events' AND partition_hour = %s ORDER BY source_key",
        (hour,),
    ).fetchall()
    assert sorted(ledger) == sorted(
        [(original, copied_lines, copied_lines), (copy, copied_lines, copied_lines)]
    )
    dupes = conn.execute(
        "SELECT COUNT(*) FROM (SELECT session_id, item_in_session FROM songplays "
        "GROUP BY 1, 2 HAVING COUNT(*) > 1) AS d"
    ).fetchone()
    assert dupes == (0,)


def test_events_redelivered_under_another_hour_are_loaded_once(
    schema_ready, s3, bucket, landed, dags
) -> None:
    """A copy of hour H's object landed under hour H+1's prefix: its events are already
    staged (by H), so H+1 counts them as duplicates and no play appears twice."""
    conn = schema_ready
    land_songs(s3, bucket, landed)
    first, second = landed["hours"][:2]
    exclude = {"staging_events": frozenset({"source_key", "line_no"})}
    tables = ("staging_events", *STAR_TABLES)
    for key in (first, second):
        chain(dags, key)
    once = snapshot(conn, tables, exclude)

    part, name = landed["parts"][first]
    later, _ = landed["parts"][second]
    events_prefix = settings.current().events_prefix
    original = event_key(events_prefix, part.hour, name)
    copy = event_key(events_prefix, later.hour, "redelivered-" + name)
    s3.copy_object(Bucket=bucket, Key=copy, CopySource={"Bucket": bucket, "Key": original})
    chain(dags, second, ("stage_events", "model"))

    assert snapshot(conn, tables, exclude) == once
    second_hour = partitions.naive_utc(partitions.parse_key(second))
    read, staged, duplicate = conn.execute(
        "SELECT rows_read, rows_staged, rows_duplicate FROM staging_partitions "
        "WHERE dataset = 'events' AND partition_hour = %s",
        (second_hour,),
    ).fetchone()
    assert duplicate == part.lines
    assert read == later.lines + part.lines
    assert staged == later.lines
    plays = conn.execute("SELECT COUNT(*), COUNT(DISTINCT songplay_id) FROM songplays").fetchone()
    assert plays[0] == plays[1]


def test_a_later_hour_modelled_first_never_refers_to_a_song_not_loaded(
    schema_ready, s3, bucket, landed, dags
) -> None:
    """Both hours staged, the songs under the first; ``model`` for the second runs first.

    Its plays must not point at songs ``songs`` does not hold yet (``quality`` checks that
    every play's song and artist exist); once the first hour is modelled, they match, and
    the tables end as in order.
    """
    conn = schema_ready
    assert land_songs(s3, bucket, landed) > 0
    first, second = landed["hours"][:2]
    for key in (first, second):
        for dag_id in ("stage_events", "stage_songs"):
            run(dags, dag_id, key)  # the songs are staged for the first hour

    run(dags, "model", second)
    dangling = conn.execute(
        "SELECT COUNT(*) FROM songplays AS p WHERE p.song_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM songs AS s WHERE s.song_id = p.song_id)"
    ).fetchone()
    assert dangling == (0,)
    run(dags, "quality", second)  # plays_songs_exist and plays_artists_exist hold

    run(dags, "model", first)
    run(dags, "quality", first)
    assert matched_plays(conn, first) == expected_plays(landed, first)
    assert matched_plays(conn, second) == expected_plays(landed, second)
