"""Re-match cost: the ``model`` run of the hour whose songs match plays of earlier hours.

A catalogue of ``SONGS`` songs is staged for one hour (through the project's own
``staging/merge_songs``, as ``stage_songs`` runs it) after a history of unmatched plays:
``MATCHING_PLAYS`` of them are plays of those songs, the rest of songs never staged. The
``model`` run of that hour, the project's own SQL files in one transaction as the ``model``
DAG runs them, re-matches the plays; it is timed with 10,000 and with 1,000,000 unmatched
plays in history, and rolled back after each run so that every repeat starts from the same
state. ``rematch_cost_ratio`` is the second time over the first: cost in proportion to the
songs that are new and the plays they match, not to the history.

The history is written straight into ``staging_events`` and ``songplays`` (generate_series),
as the songplays load would have left it, so that a million plays take seconds to build.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import psycopg

from benchmarks.common import median, model_params
from sparkify.pipeline.records import SONG_COLUMNS
from sparkify.pipeline.sql import MODEL_LOADS, render, sql_dir, statements

SONGS = 15_000  # staged in one hour, as the day of issue 15 staged 14,896
MATCHING_PLAYS = 6_000  # plays in history of the first MATCHED_SONGS of them
MATCHED_SONGS = 1_500
HOUR_EVENTS = 2_000  # the hour's own events (and the history's, per hour)
HISTORIES = (10_000, 1_000_000)
START = datetime(2018, 11, 1)

# Play n of the history: hour n // HOUR_EVENTS, session n // 50, item n % 50. The first
# MATCHING_PLAYS are plays of song n % MATCHED_SONGS; the others of songs never staged.
EVENTS_SQL = """
INSERT INTO staging_events (partition_hour, source_key, line_no, artist, auth, first_name,
    gender, item_in_session, last_name, length, level, location, method, page, registration,
    session_id, song, status, ts, user_agent, user_id)
SELECT CAST(%(start)s AS TIMESTAMP) + (n / %(per_hour)s) * INTERVAL '1 hour', 'bench', n,
       CASE WHEN n < %(matching)s THEN 'Artist ' || MOD(n, %(matched_songs)s) ELSE 'Nobody' END,
       'Logged In', 'First', 'F', MOD(n, 50), 'Last',
       CASE WHEN n < %(matching)s THEN 100 + MOD(n, %(matched_songs)s) ELSE 1 END,
       'free', 'Town', 'PUT', %(page)s, 1540000000000, n / 50,
       CASE WHEN n < %(matching)s THEN 'Song ' || MOD(n, %(matched_songs)s) ELSE 'Never ' || n END,
       200,
       CAST(%(start_ms)s AS BIGINT) + CAST(n AS BIGINT) * (3600000 / %(per_hour)s),
       'Mozilla', CAST(MOD(n, 500) AS VARCHAR)
FROM generate_series(CAST(%(first)s AS INTEGER), CAST(%(last)s AS INTEGER)) AS n
"""
# The history's plays as the songplays load left them: none matched yet.
PLAYS_SQL = """
INSERT INTO songplays (songplay_id, partition_hour, start_time, user_id, level, song_id,
    artist_id, session_id, item_in_session, location, user_agent)
SELECT MD5(CAST(session_id AS VARCHAR) || ':' || CAST(item_in_session AS VARCHAR)),
       partition_hour, TIMESTAMP 'epoch' + (ts / 1000) * INTERVAL '1 second', user_id, level,
       NULL, NULL, session_id, item_in_session, location, user_agent
FROM staging_events WHERE partition_hour < %(hour)s AND page = 'NextSong'
"""
SONGS_SQL = """
INSERT INTO load_songs (song_id, num_songs, artist_id, artist_location, artist_name, title,
    duration, year, source_key, partition_hour)
SELECT 'SO' || LPAD(CAST(n AS VARCHAR), 8, '0'), 1, 'AR' || MOD(n, 3000), '', 'Artist ' || n,
       'Song ' || n, 100 + n, 2000, 'song_data/' || n || '.json', %(hour)s
FROM generate_series(0, CAST(%(songs)s AS INTEGER) - 1) AS n
"""


def _schema(conn: psycopg.Connection, name: str) -> None:
    conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    conn.execute(f"CREATE SCHEMA {name}")
    conn.execute(f"SET search_path TO {name}")
    for sql in statements(render("schema/create_tables")):
        conn.execute(sql)


def build(
    conn: psycopg.Connection,
    schema: str,
    history: int,
    *,
    other_events: int = 0,
    analyze_staged: bool = False,
) -> tuple[datetime, float]:
    """``history`` unmatched plays (and ``other_events`` events that are not plays), then
    the hour after them with its events and the catalogue staged for it; returns that hour
    and how long staging the songs took.

    The statistics are those of the history, not of the songs just staged (unless
    ``analyze_staged``): ``model`` runs right after ``stage_songs``, before autovacuum has
    analysed what it wrote, and the plans must hold up under that.
    """
    _schema(conn, schema)
    hour = START + timedelta(hours=history // HOUR_EVENTS + 1)
    first_of_hour = (history // HOUR_EVENTS + 1) * HOUR_EVENTS
    params = {
        "start": START,
        "start_ms": int((START - datetime(1970, 1, 1)).total_seconds() * 1000),
        "per_hour": HOUR_EVENTS,
        "matching": MATCHING_PLAYS,
        "matched_songs": MATCHED_SONGS,
        "page": "NextSong",
    }
    with conn.transaction():
        conn.execute(EVENTS_SQL, {**params, "first": 0, "last": history - 1})
        if other_events:  # numbered below zero: sessions and items of their own
            page = {"page": "Home", "matching": 0}
            conn.execute(EVENTS_SQL, {**params, **page, "first": -other_events, "last": -1})
        # The hour's own events: plays of songs never staged, like most of the real data's.
        last = first_of_hour + HOUR_EVENTS - 1
        conn.execute(EVENTS_SQL, {**params, "matching": 0, "first": first_of_hour, "last": last})
        conn.execute(PLAYS_SQL, {"hour": hour})
        # A song staged long before, so that staging_songs has statistics that know nothing
        # of the hour under test, as it would in a warehouse already running.
        conn.execute(
            "INSERT INTO staging_songs (song_id, artist_id, artist_name, title, duration, "
            "source_key, partition_hour) VALUES ('SOSEED', 'ARSEED', 'Seed', 'Seed', 1, "
            "'song_data/seed.json', %(start)s)",
            params,
        )
        # The plays still waiting for a song, as the songplays load lists them. Written
        # through the schema's own fill (and skipped where there is none, for a before/after
        # against an older sql/ named by SPARKIFY_SQL_DIR).
        if (sql_dir() / "schema" / "fill_match_tables.sql").exists():
            for sql in statements(render("schema/fill_match_tables")):
                conn.execute(sql)
    conn.execute("ANALYZE")
    start = time.perf_counter()
    with conn.transaction():
        for sql in statements(render("staging/create_load_songs", "postgres")):
            conn.execute(sql)
        conn.execute(SONGS_SQL, {"hour": hour, "songs": SONGS})
        for sql in statements(render("staging/merge_songs", columns=SONG_COLUMNS)):
            conn.execute(sql)
        if (sql_dir() / "staging" / "merge_song_picks.sql").exists():
            for sql in statements(render("staging/merge_song_picks")):
                conn.execute(sql)
    staged = time.perf_counter() - start
    if analyze_staged:
        conn.execute("ANALYZE")
    return hour, staged


def model_once(conn: psycopg.Connection, hour: datetime) -> tuple[float, int]:
    """The hour's model run, timed, and the history's plays it matched; then rolled back."""
    params = model_params(hour)
    conn.execute("BEGIN")
    try:
        start = time.perf_counter()
        for name in MODEL_LOADS:
            for sql in statements(render(name, mode="upsert")):
                conn.execute(sql, params)
        elapsed = time.perf_counter() - start
        (matched,) = conn.execute(
            "SELECT COUNT(*) FROM songplays WHERE song_id IS NOT NULL AND partition_hour < %s",
            (hour,),
        ).fetchone()
    finally:
        conn.execute("ROLLBACK")
    return elapsed, matched


def run(stack, repeats: int = 3) -> dict[str, Any]:
    conn = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
    built = {n: build(conn, f"bench_rematch_{n}", n) for n in HISTORIES}
    timings: dict[int, list[float]] = {n: [] for n in HISTORIES}
    for _ in range(repeats):
        for n, (hour, _staged) in built.items():
            conn.execute(f"SET search_path TO bench_rematch_{n}")
            elapsed, matched = model_once(conn, hour)
            assert matched == MATCHING_PLAYS, (n, matched)  # the result, not only the time
            timings[n].append(elapsed)
    for n in HISTORIES:
        conn.execute(f"DROP SCHEMA bench_rematch_{n} CASCADE")
    conn.close()
    small, large = (median(timings[n]) for n in HISTORIES)
    return {
        "rematch_model_10k_s": round(small, 4),
        "rematch_model_1m_s": round(large, 4),
        "rematch_cost_ratio": round(large / small, 2),
        "rematch_stage_songs_s": round(built[HISTORIES[-1]][1], 3),
        "rematch_runs": {str(n): [round(t, 4) for t in ts] for n, ts in timings.items()},
        "rematch_songs": SONGS,
        "rematch_matched_plays": MATCHING_PLAYS,
    }
