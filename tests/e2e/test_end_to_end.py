"""End to end: the real scheduler runs the whole chain over landed hours, on each warehouse.

Brings the test session's stack up in full (scheduler, dag-processor, triggerer, API
server), lands one generated day in the stack's bucket, runs ``setup``, backfills both
staging DAGs over a few of its hours through the REST API (``sparkify.control``) and waits
for ``model`` and ``quality``, which follow by their assets. Then: every DAG ran exactly
once per partition key, and the tables hold what the input says, counted here from the
generated files with nothing of the pipeline's code. Backfilling the window again re-runs
every DAG for every hour and changes no table.

The scheduler's processes take their environment when they start, so this uses the
stack's own warehouse tables (the ``public`` schema), emptied first, and the stack's bucket.

Every test runs twice: on PostgreSQL (``live``), and on the Redshift rehearsal
(``live_redshift``: a stack of its own brought up as ``sparkify stack up --warehouse
redshift``, whose tasks reach the warehouse through ``RedshiftSQLHook``,
``redshift_connector``, the ``*.redshift.sql`` variants and Redshift's ``COPY``), each with
a day of its own, so that one's runs are not counted as the other's (and a shorter window
on Redshift's path, whose statements are slower).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sparkify.control import PIPELINE_DAGS, STAGING_DAGS, fetch_runs, trigger_and_wait
from sparkify.local.demo import land_data, settle
from sparkify.local.generate.dataset import generate
from tests.e2e.chain import empty_bucket, empty_warehouse, run_window

pytestmark = pytest.mark.e2e

# Per warehouse: a day no other test lands, the generator's seed for it, and the window's
# hours. Three on Redshift's path: each statement through the rehearsal takes about 0.1 s
# (tests/integration/test_faults.py says why), and six hours twice took some 8 minutes.
RUNS = {"postgres": (date(2018, 11, 20), 20, 6), "redshift": (date(2018, 11, 22), 22, 3)}
EVENTS_PER_HOUR = 30.0
STAR_AND_STAGING = ("staging_events", "staging_songs", "songplays", "users", "songs", "artists")


@dataclass
class Pipeline:
    """One full pass: on which warehouse and stack, what was asked, what ran, and the time
    it started."""

    warehouse: str
    stack: Any
    client: Any
    keys: list[str]
    hours: list[datetime]
    started: datetime
    runs: dict[str, list[dict]]  # every run of each DAG for the window's keys
    seconds: float


# -- the input, read independently ---------------------------------------------------------------
def hour_of(ts_ms: int) -> datetime:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)
    return moment.replace(minute=0, second=0, microsecond=0)


def read_events(source: Path) -> list[dict]:
    events = []
    for path in sorted((source / "log_data").rglob("*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                events.append(json.loads(line))
    return events


def read_songs(source: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((source / "song_data").rglob("*.json"))]


def choose_window(events: list[dict], songs: list[dict], day: date, length: int) -> list[datetime]:
    """``length`` consecutive hours of the day with an empty hour, plays and a matched play,
    so that the window covers what the contract promises (an empty hour completes too)."""
    triples = {(s["title"], s["artist_name"], s["duration"]) for s in songs}
    per_hour: dict[datetime, Counter] = {}
    for e in events:
        c = per_hour.setdefault(hour_of(e["ts"]), Counter())
        c["events"] += 1
        if e["page"] == "NextSong":
            c["plays"] += 1
            c["matched"] += (e["song"], e["artist"], e["length"]) in triples
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    for first in range(24 - length + 1):
        hours = [start + timedelta(hours=first + n) for n in range(length)]
        counts = [per_hour.get(h, Counter()) for h in hours]
        empty = any(c["events"] == 0 for c in counts)
        if empty and sum(c["plays"] for c in counts) >= 10 and any(c["matched"] for c in counts):
            return hours
    raise AssertionError("the generated day has no window with an empty hour and matched plays")


def expected_counts(events: list[dict], songs: list[dict], hours: list[datetime]) -> dict:
    window = set(hours)
    staged = [e for e in events if hour_of(e["ts"]) in window]
    plays = [e for e in staged if e["page"] == "NextSong"]
    triples = {(s["title"], s["artist_name"], s["duration"]) for s in songs}
    return {
        "staging_events": len(staged),
        "staging_songs": len({s["song_id"] for s in songs}),
        "songplays": len(plays),
        "songplays_matched": sum((p["song"], p["artist"], p["length"]) in triples for p in plays),
        "users": len({str(e["userId"]) for e in staged if e.get("userId") not in (None, "")}),
        "songs": len({s["song_id"] for s in songs}),
        "artists": len({s["artist_id"] for s in songs if s.get("artist_id")}),
        "time": len({p["ts"] for p in plays}),
    }


# -- the warehouse ---------------------------------------------------------------------------------
def table_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        counts = {
            t: conn.execute(f'SELECT COUNT(*) FROM public."{t}"').fetchone()[0]
            for t in (*STAR_AND_STAGING, "time")
        }
        counts["songplays_matched"] = conn.execute(
            "SELECT COUNT(*) FROM public.songplays WHERE song_id IS NOT NULL"
        ).fetchone()[0]
    return counts


def fingerprints(dsn: str, hours: list[datetime]) -> dict[str, str]:
    """A digest of every row of the staging and star schema tables, order-independent, and
    the window's staging counts (without their timestamps). Only the window's: at each full
    hour the scheduler stages the hour just ended, whatever this test does."""
    with psycopg.connect(dsn) as conn:
        digests = {
            t: conn.execute(
                "SELECT COUNT(*) || ':' || COALESCE(md5(string_agg(r::text, '|' "
                f"ORDER BY r::text)), '') FROM public.\"{t}\" AS r"
            ).fetchone()[0]
            for t in (*STAR_AND_STAGING, "time")
        }
        # In full, not digested: a difference here is read in the assertion's diff.
        digests["staging_partitions"] = conn.execute(
            "SELECT string_agg(concat_ws(',', dataset, partition_hour, objects, rows_read, "
            "rows_staged, rows_rejected, rows_duplicate, rows_coerced), ' | ' "
            "ORDER BY dataset, partition_hour) FROM public.staging_partitions "
            "WHERE partition_hour BETWEEN %s AND %s",
            (hours[0].replace(tzinfo=None), hours[-1].replace(tzinfo=None)),
        ).fetchone()[0]
    return digests


def runs_by_dag(client, keys: list[str]) -> dict[str, list[dict]]:
    return {dag_id: fetch_runs(client, dag_id, keys) for dag_id in PIPELINE_DAGS}


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(
    scope="module", params=["postgres", pytest.param("redshift", marks=pytest.mark.redshift)]
)
def e2e_warehouse(request) -> str:
    """The warehouse the stack's pipeline runs on (``redshift``: through the rehearsal)."""
    return request.param


@pytest.fixture(scope="module")
def source(e2e_warehouse, tmp_path_factory) -> Path:
    day, seed, _length = RUNS[e2e_warehouse]
    out = tmp_path_factory.mktemp(f"e2e-data-{e2e_warehouse}")
    generate(out, start=day, days=1, events_per_hour=EVENTS_PER_HOUR, seed=seed)
    return out


@pytest.fixture(scope="module")
def pipeline(e2e_warehouse, source, request) -> Pipeline:
    stack, client = request.getfixturevalue(
        "live" if e2e_warehouse == "postgres" else "live_redshift"
    )
    day, _seed, length = RUNS[e2e_warehouse]
    hours = choose_window(read_events(source), read_songs(source), day, length)
    empty_warehouse(stack.warehouse_dsn())
    empty_bucket(stack)
    assert trigger_and_wait(client, "setup")["state"] == "success"
    settle(client)  # the scheduled stage_songs run of this hour must not take the songs
    land_data(stack, source, day, day)
    since, seconds, _ = run_window(client, hours)
    keys = [h.strftime("%Y-%m-%dT%H:%M:%S") for h in hours]
    print(f"{len(keys)} partitions through the whole chain on {e2e_warehouse} in {seconds:.1f}s")
    return Pipeline(
        e2e_warehouse, stack, client, keys, hours, since, runs_by_dag(client, keys), seconds
    )


# -- tests -----------------------------------------------------------------------------------------
def test_every_dag_runs_once_per_partition_key(pipeline: Pipeline):
    for dag_id in PIPELINE_DAGS:
        runs = pipeline.runs[dag_id]
        per_key = Counter(run["partition_key"] for run in runs)
        assert per_key == dict.fromkeys(pipeline.keys, 1), dag_id
        assert {run["state"] for run in runs} == {"success"}, dag_id
    staged = {run["run_type"] for dag_id in STAGING_DAGS for run in pipeline.runs[dag_id]}
    assert staged == {"manual"}  # sparkify backfill's runs, one per key
    # model and quality were started by their Assets, not by the backfill
    chained = {run["run_type"] for dag_id in ("model", "quality") for run in pipeline.runs[dag_id]}
    assert chained == {"asset_triggered"}


def test_tables_hold_what_the_input_says(pipeline: Pipeline, source: Path):
    expected = expected_counts(read_events(source), read_songs(source), pipeline.hours)
    assert expected["songplays_matched"] > 0
    assert table_counts(pipeline.stack.warehouse_dsn()) == expected


def test_the_tasks_went_through_the_warehouses_own_path(pipeline: Pipeline):
    """What only that warehouse's path leaves: on PostgreSQL the line each staged event came
    from and its unique index; on Redshift's, COPY's rows (the hour's prefix, no line
    number), the tables of the Redshift DDL (``setup`` through the rehearsal) and the
    rehearsal's stand-ins for Redshift's system objects."""
    with psycopg.connect(pipeline.stack.warehouse_dsn()) as conn:
        numbered, prefixed, total = conn.execute(
            "SELECT COUNT(line_no), COUNT(*) FILTER (WHERE source_key LIKE '%/'), COUNT(*) "
            "FROM public.staging_events"
        ).fetchone()
        (auth_type,) = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'public.staging_events'::regclass AND attname = 'auth'"
        ).fetchone()
        unique_index = conn.execute(
            "SELECT to_regclass('public.staging_events_event_uq')"
        ).fetchone()[0]
        copy_id = conn.execute("SELECT to_regproc('public.pg_last_copy_id')").fetchone()[0]
    assert total > 0
    if pipeline.warehouse == "postgres":
        assert (numbered, prefixed) == (total, 0)
        assert (auth_type, unique_index, copy_id) == (
            "character varying",
            "staging_events_event_uq",
            None,
        )
    else:
        assert (numbered, prefixed) == (0, total)
        assert (auth_type, unique_index) == ("character varying(32)", None)
        assert copy_id is not None


def test_staging_and_checks_reconcile(pipeline: Pipeline):
    stack = pipeline.stack
    first, last = (h.replace(tzinfo=None) for h in (pipeline.hours[0], pipeline.hours[-1]))
    with psycopg.connect(stack.warehouse_dsn()) as conn:
        read, staged, rejected, hours = conn.execute(
            "SELECT SUM(rows_read), SUM(rows_staged), SUM(rows_rejected), COUNT(*) "
            "FROM staging_partitions WHERE dataset = 'events' "
            "AND partition_hour BETWEEN %s AND %s",
            (first, last),
        ).fetchone()
        failed = conn.execute(
            "SELECT check_name, table_name, partition_hour, value FROM check_results "
            "WHERE NOT passed AND partition_hour BETWEEN %s AND %s",
            (first, last),
        ).fetchall()
        checked = conn.execute(
            "SELECT COUNT(DISTINCT partition_hour) FROM check_results "
            "WHERE partition_hour BETWEEN %s AND %s",
            (first, last),
        ).fetchone()[0]
    assert hours == len(pipeline.hours)  # empty hours too
    assert read == staged
    assert rejected == 0
    assert checked == len(pipeline.hours)
    assert failed == []


def test_backfilling_again_in_one_window_reruns_everything_and_changes_nothing(
    pipeline: Pipeline,
):
    """The same hours again, now as one window (``--grain range``): one run of each DAG
    for the window's key, and every table as the hourly runs left it."""
    stack, client = pipeline.stack, pipeline.client
    before = fingerprints(stack.warehouse_dsn(), pipeline.hours)
    since, seconds, _ = run_window(client, pipeline.hours, grain="range")
    print(f"backfilled again in one window in {seconds:.1f}s")
    window = f"{pipeline.keys[0]}/{(pipeline.hours[-1] + timedelta(hours=1)):%Y-%m-%dT%H:%M:%S}"
    after = runs_by_dag(client, [window])
    for dag_id in PIPELINE_DAGS:
        new = [r for r in after[dag_id] if _started_after(r, since)]
        assert Counter(r["partition_key"] for r in new) == {window: 1}, dag_id
        assert {r["state"] for r in new} == {"success"}, dag_id
    assert fingerprints(stack.warehouse_dsn(), pipeline.hours) == before


def _started_after(run: dict, since: datetime) -> bool:
    start = run.get("start_date")
    return start is not None and datetime.fromisoformat(start.replace("Z", "+00:00")) >= since
