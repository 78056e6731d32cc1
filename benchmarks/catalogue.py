"""Song catalogue cost: a ``stage_songs`` run that finds ``NEW_SONGS`` new song files, with
10,000 and with 1,000,000 songs loaded before it.

The catalogue loaded before is written straight into ``load_ledger``, ``staging_songs`` and
``song_picks`` (generate_series), as earlier runs would have left them, so that a million
songs take seconds to build. The new files are real objects on the stack's S3 endpoint,
announced to the run as bucket notifications announce them (``stage_window``'s
``song_keys``): the run looks each one up by key and never lists the catalogue. (moto
cannot hold a million objects and list them in a benchmark's time: its listing reads the
whole bucket for every page. So the catalogue's own files are not on the endpoint; a run
by key never asks for them.) Each run is a process of its own
(``python -m benchmarks.catalogue_run``), timed inside it, with its own peak RSS.

- ``songs_catalogue_cost_ratio``: the median run at 1,000,000 over the median at 10,000;
- ``stage_songs_peak_rss_mb``: the largest peak RSS of the runs at 1,000,000.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

import psycopg

from benchmarks.common import median, s3_client
from sparkify.pipeline import settings as settings_module

NEW_SONGS = 100
CATALOGUES = (10_000, 1_000_000)

LEDGER_SQL = """
INSERT INTO load_ledger (dataset, source_key, etag, size_bytes, partition_hour, rows_read,
    rows_staged, rows_rejected, rows_duplicate, rows_coerced)
SELECT 'songs', 'song_data/C/' || n || '.json', MD5(CAST(n AS VARCHAR)), 250,
       TIMESTAMP '2018-11-01 00:00:00', 1, 1, 0, 0, 0
FROM generate_series(CAST(%(first)s AS INTEGER), CAST(%(last)s AS INTEGER)) AS n
"""
SONGS_SQL = """
INSERT INTO staging_songs (song_id, num_songs, artist_id, artist_latitude, artist_longitude,
    artist_location, artist_name, title, duration, year, source_key, partition_hour)
SELECT 'SOC' || n, 1, 'ARC' || (n / 2), NULL, NULL, '', 'Artist ' || (n / 2), 'Song ' || n,
       100 + MOD(n, 300), 2000, 'song_data/C/' || n || '.json',
       TIMESTAMP '2018-11-01 00:00:00'
FROM generate_series(CAST(%(first)s AS INTEGER), CAST(%(last)s AS INTEGER)) AS n
"""
PICKS_SQL = """
INSERT INTO song_picks (title, artist_name, duration, song_id, artist_id, partition_hour)
SELECT title, artist_name, duration, song_id, artist_id, partition_hour
FROM staging_songs WHERE song_id LIKE 'SOC%%'
  AND CAST(SUBSTRING(song_id FROM 4) AS INTEGER) BETWEEN %(first)s AND %(last)s
"""


def song_file(n: int) -> bytes:
    return json.dumps(
        {
            "num_songs": 1,
            "artist_id": f"ARNEW{n}",
            "artist_latitude": None,
            "artist_longitude": None,
            "artist_location": "",
            "artist_name": f"New Artist {n}",
            "song_id": f"SONEW{n}",
            "title": f"New Song {n}",
            "duration": 180.5,
            "year": 2018,
        }
    ).encode()


def grow_catalogue(conn: psycopg.Connection, first: int, last: int) -> None:
    params = {"first": first, "last": last}
    with conn.transaction():
        for sql in (LEDGER_SQL, SONGS_SQL, PICKS_SQL):
            conn.execute(sql, params)
    conn.execute("ANALYZE load_ledger")
    conn.execute("ANALYZE staging_songs")
    conn.execute("ANALYZE song_picks")


def one_run(stack, keys: list[str], hour: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(keys, handle)
    command = [sys.executable, "-m", "benchmarks.catalogue_run"]
    command += [stack.warehouse_dsn(), stack.bucket, handle.name, hour]
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=True,
            env=dict(os.environ),
        )
    finally:
        os.unlink(handle.name)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(stack, repeats: int = 3) -> dict[str, Any]:
    s3 = s3_client()
    conn = psycopg.connect(stack.warehouse_dsn(), autocommit=True)
    runs: dict[str, list[dict[str, Any]]] = {}
    loaded = 0
    batch = 0
    songs_root = settings_module.load().songs_root  # where stage_songs reads
    for size in CATALOGUES:
        grow_catalogue(conn, loaded + 1, size)
        loaded = size
        runs[str(size)] = []
        for _ in range(repeats):
            batch += 1
            keys = [f"{songs_root}N/{batch}/TRNEW{batch}x{i}.json" for i in range(NEW_SONGS)]
            for i, key in enumerate(keys):
                s3.put_object(Bucket=stack.bucket, Key=key, Body=song_file(batch * 1000 + i))
            result = one_run(stack, keys, f"2018-11-02T{batch:02d}:00:00")
            if result["staged"] != NEW_SONGS:
                raise RuntimeError(f"staged {result['staged']} of {NEW_SONGS} new songs")
            runs[str(size)].append(result)
    conn.close()
    small = median([r["seconds"] for r in runs[str(CATALOGUES[0])]])
    large = median([r["seconds"] for r in runs[str(CATALOGUES[1])]])
    return {
        "songs_catalogue_cost_ratio": round(large / small, 2),
        "songs_catalogue_run_s_10k": round(small, 3),
        "songs_catalogue_run_s_1m": round(large, 3),
        "stage_songs_peak_rss_mb": max(r["peak_rss_mb"] for r in runs[str(CATALOGUES[1])]),
        "songs_catalogue_runs": runs,
    }
