"""Incremental cost: ``model`` for one hour with 1 day and with 30 days of history.

The history is synthetic (generate_series) so that building 30 days takes seconds; the hour
under test goes through the project's own SQL files, exactly as the ``model`` DAG runs them.
Beside it, the same hour with the dimensions in ``truncate_insert`` mode: the reload-everything
approach, whose cost grows with the history.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from benchmarks.common import median, model_params
from sparkify.pipeline.sql import MODEL_LOADS, render, statements

EVENTS_PER_HOUR = 2_000
SONGS = 5_000
START = datetime(2018, 11, 1, tzinfo=UTC)

HISTORY_SQL = """
INSERT INTO staging_events (partition_hour, source_key, line_no, artist, auth, first_name,
    gender, item_in_session, last_name, length, level, location, method, page, registration,
    session_id, song, status, ts, user_agent, user_id)
SELECT date_trunc('hour', to_timestamp(ts / 1000.0) AT TIME ZONE 'UTC'), 'bench', n,
       'Artist ' || MOD(n, %(songs)s), 'Logged In', 'First', 'F', MOD(n, 50), 'Last',
       100 + MOD(n, %(songs)s), CASE WHEN MOD(n, 7) = 0 THEN 'paid' ELSE 'free' END, 'Town', 'PUT',
       'NextSong', 1540000000000, n / 50, 'Song ' || MOD(n, %(songs)s), 200, ts,
       'Mozilla', CAST(MOD(n, 500) AS VARCHAR)
FROM (SELECT n, CAST(%(start_ms)s AS BIGINT) + CAST(n AS BIGINT) * (3600000 / %(per_hour)s) AS ts
      FROM generate_series(%(first)s, %(last)s) AS n) AS g
"""
SONGS_SQL = """
INSERT INTO staging_songs (song_id, num_songs, artist_id, artist_location, artist_name, title,
    duration, year, source_key, partition_hour)
SELECT 'SO' || n, 1, 'AR' || MOD(n, 3000), '', 'Artist ' || n, 'Song ' || n, 100 + n, 2000,
       'song_data/' || n, %(hour)s
FROM generate_series(0, %(songs)s - 1) AS n
"""


def _schema(conn: psycopg.Connection, name: str) -> None:
    conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    conn.execute(f"CREATE SCHEMA {name}")
    conn.execute(f"SET search_path TO {name}")
    for sql in statements(render("schema/create_tables")):
        conn.execute(sql)


def _model(conn: psycopg.Connection, hour: datetime, mode: str) -> float:
    params = model_params(hour)
    start = time.perf_counter()
    with conn.transaction():
        for name in MODEL_LOADS:
            for sql in statements(render(name, mode=mode)):
                conn.execute(sql, params)
    return time.perf_counter() - start


def _build(conn: psycopg.Connection, schema: str, days: int) -> datetime:
    """History of ``days`` days, loaded hour by hour; returns the hour after it."""
    _schema(conn, schema)
    hours = days * 24
    start_ms = int(START.timestamp() * 1000)
    with conn.transaction():
        conn.execute(SONGS_SQL, {"songs": SONGS, "hour": START.replace(tzinfo=None)}, prepare=False)
        # Written straight into staging_songs: their picks as a merge would have made them.
        for sql in statements(render("schema/fill_match_tables")):
            conn.execute(sql)
        conn.execute(
            HISTORY_SQL,
            {
                "songs": SONGS,
                "start_ms": start_ms,
                "per_hour": EVENTS_PER_HOUR,
                "first": 0,
                "last": (hours + 1) * EVENTS_PER_HOUR - 1,
            },
        )
    conn.execute("ANALYZE")
    for h in range(hours):
        _model(conn, START + timedelta(hours=h), "upsert")
    conn.execute("ANALYZE")
    return START + timedelta(hours=hours)


def run(stack, repeats: int = 5) -> dict[str, Any]:
    conn = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
    targets = {days: _build(conn, f"bench_hist_{days}d", days) for days in (1, 30)}
    timings: dict[str, list[float]] = {
        f"{m}_{d}d": [] for m in ("upsert", "reload") for d in (1, 30)
    }
    # Upserts first, alternating 1 and 30 days; the reloads after them, because a reload
    # rewrites whole tables and would leave the next upsert paying for its dead rows.
    for mode, key, rounds in (("upsert", "upsert", repeats), ("truncate_insert", "reload", 3)):
        for _ in range(rounds):
            for days, hour in targets.items():
                conn.execute(f"SET search_path TO bench_hist_{days}d")
                timings[f"{key}_{days}d"].append(_model(conn, hour, mode))
    for days in targets:
        conn.execute(f"DROP SCHEMA bench_hist_{days}d CASCADE")
    conn.close()
    med = {k: median(v) for k, v in timings.items()}
    return {
        "model_hour_1d_s": round(med["upsert_1d"], 4),
        "model_hour_30d_s": round(med["upsert_30d"], 4),
        "incremental_cost_ratio": round(med["upsert_30d"] / med["upsert_1d"], 2),
        "reload_hour_1d_s": round(med["reload_1d"], 4),
        "reload_hour_30d_s": round(med["reload_30d"], 4),
        "reload_cost_ratio": round(med["reload_30d"] / med["reload_1d"], 2),
        "history_events_per_hour": EVENTS_PER_HOUR,
    }
