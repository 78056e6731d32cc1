"""The big day: a generated day of about a million events through all four DAGs, end to end.

One day generated in the original export layout (``--big-day-events-per-hour``, default
about a million events a day; a catalogue of 15,000 songs, the real one's size; 5% of
plays are catalogue songs), then ``sparkify demo --source DIR --from D --to D`` on a
private full stack (``run_demo``): stack up, ``setup``, landing (hourly prefixes; on the
new stack, beside Airflow's start), one backfill run of each staging DAG for the day (the
default grain, ``range``: the day is one window, its bookkeeping kept per hour), and
``model`` and ``quality`` after them by their Assets. All song files land before the
backfill, so the day's ``stage_songs`` run stages the whole catalogue (under the window's
first hour) and the day's ``model`` loads it, matching the day's plays in one transaction.

``big_day_events_per_s`` is the day's events over the demo's whole time (``run_demo``'s
total: stack start, ``setup``, landing, which runs beside Airflow's start on a new stack,
and the pipeline to the end of the last ``quality`` run; generating the data is not
counted), the issue's end-to-end measure; ``big_day_seconds`` has each step. The counts
must be exact (staged events, plays, matched plays and songs are the generator manifest's)
or the part fails. ``big_day_profile`` says where the time went, from the task instance records
(``profile``).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date
from pathlib import Path
from typing import Any

from benchmarks.common import EVENTS_PER_HOUR_1M
from benchmarks.latency import upstream_of
from benchmarks.throughput import fetch_tis
from benchmarks.timing import parse_time, profile_tis, seconds, union_seconds

DAY = date(2018, 11, 21)  # a day no other benchmark generates
SONGS = 15_000  # the real catalogue's size (14,896 song files)
MATCH_RATE = 0.05  # plays that are catalogue songs (assumed: the real logs' share is small)
SEED = 1515
TIMEOUT_S = 3600.0
GROUPS = {  # profile group -> the DAGs whose tasks it sums
    "staging": ("stage_events", "stage_songs"),
    "model": ("model",),
    "quality": ("quality",),
}


def run(
    *,
    events_per_hour: float = EVENTS_PER_HOUR_1M,
    songs: int = SONGS,
    seed: int = SEED,
    floor: Mapping[str, float] | None = None,
    timeout: float = TIMEOUT_S,
    echo: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Generate the day, run it through the chain on a private stack; figures and profile.

    :param floor: DAG id -> a no-op task's median duration there (the floor DAGs'), to
        estimate how much of the task time is Airflow's own
    """
    from sparkify.local.demo import DemoOptions, run_demo
    from sparkify.local.generate.dataset import generate
    from sparkify.local.stack.stack import Stack

    with tempfile.TemporaryDirectory(prefix="sparkify-bench-bigday-", dir="/tmp") as tmp:
        os.chmod(tmp, 0o755)  # PostgreSQL runs as its own user and must enter the stack's
        data = Path(tmp) / "data"
        began = time.monotonic()
        manifest = generate(
            data,
            start=DAY,
            days=1,
            events_per_hour=events_per_hour,
            songs=songs,
            seed=seed,
            match_rate=MATCH_RATE,
        )
        generated_s = time.monotonic() - began
        totals = manifest["totals"]
        echo(
            f"  generated {totals['events']:,} events, {totals['song_files']:,} song files "
            f"in {generated_s:.0f}s"
        )
        stack = Stack(Path(tmp) / "stack")
        stack.init_config()
        try:
            options = DemoOptions(source=data, first=DAY, last=DAY, timeout=timeout, progress=False)
            result = run_demo(options, stack=stack, echo=lambda m: echo(f"  {m}"))
            records = gather(stack, result.keys)
        finally:
            stack.down(purge=True)
    exact = exact_counts(result.summary, manifest)
    if result.problems or not all(exact.values()):
        raise RuntimeError(f"the big day failed: {result.problems}, counts exact: {exact}")
    return {
        "big_day_events": totals["events"],
        "big_day_events_per_s": round(totals["events"] / result.timings["total"]),
        "big_day_seconds": {**result.timings, "generate (not counted)": round(generated_s, 1)},
        "big_day_options": {
            "catalogue_hour": records["catalogue_hour"],
            "events_per_hour": events_per_hour,
            "songs": songs,
            "match_rate": MATCH_RATE,
            "seed": seed,
            "day": DAY.isoformat(),
        },
        "big_day_exact": exact,
        "big_day_profile": profile(**records, floor=floor or {}),
    }


def gather(stack, keys: Iterable[str]) -> dict[str, Any]:
    """What ``profile`` needs, from a stack that ran ``keys`` (still up, or up again: the
    records are Airflow's metadata database and the warehouse's)."""
    from sparkify.control import FINISHED, PIPELINE_DAGS, fetch_runs, latest_by_key

    keys = list(keys)
    with stack.api_client() as client:
        latest = {
            d: latest_by_key(fetch_runs(client, d, keys, states=FINISHED)) for d in PIPELINE_DAGS
        }
        since = min(
            t for r in latest["stage_events"].values() if (t := parse_time(r.get("queued_at")))
        )
        tis = {
            d: fetch_tis(client, d, {r["dag_run_id"] for r in runs.values()}, since)
            for d, runs in latest.items()
        }
        upstream = {d: upstream_of(client, d) for d in latest}
    return {
        "latest": latest,
        "tis": tis,
        "since": since,
        "catalogue_hour": _catalogue_hour(stack.warehouse_dsn()),
        "upstream": upstream,
    }


def exact_counts(summary: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict[str, bool]:
    """Each count of the demo's summary against what the generator wrote."""
    expected = manifest["outcomes"]
    tables, lines = summary["tables"], summary["lines"]
    return {
        "events_staged": lines["staged"] == expected["staged"] == tables["staging_events"],
        "plays": tables["songplays"] == expected["plays_staged"],
        "plays_matched": summary["songplays_matched"] == expected["plays_matched_staged"],
        "songs": tables["songs"] == manifest["songs"]["staged"],
        "nothing_rejected": lines["rejected"] == 0,
    }


def profile(
    latest: Mapping[str, Mapping[str, dict]],
    tis: Mapping[str, Iterable[dict]],
    since: Any,
    catalogue_hour: str | None,
    floor: Mapping[str, float],
    upstream: Mapping[str, Mapping[str, Iterable[str]]],
) -> dict[str, Any]:
    """Where the big day's time went, from the runs (DAG -> key -> run), their task
    instances (DAG -> records) and each DAG's task dependencies (task -> upstream tasks).

    Per group (staging, model, quality): its tasks' time added up (``task_s``), the span of
    the day's wall time in which they ran (``first_start_s`` and ``last_end_s``, seconds
    after the backfill's first run was queued), the time in which at least one of them was
    running (``busy_s``), and what a no-op task takes in the same DAG multiplied by the
    tasks (``floor_task_s``: Airflow's own cost of starting and finishing them). For
    ``model`` also its runs' durations, the catalogue hour's apart, and ``queued_s``: task
    time during which another model task was running too, which on PostgreSQL is mostly
    waiting for its star table locks (one ``model`` writes at a time).
    """
    out: dict[str, Any] = {}
    for group, dag_ids in GROUPS.items():
        records = [ti for d in dag_ids for ti in tis.get(d, ()) if ti.get("state") == "success"]
        spans = [(parse_time(ti["start_date"]), parse_time(ti["end_date"])) for ti in records]
        spans = [(s, e) for s, e in spans if s is not None and e is not None]
        durations = [seconds(s, e) for s, e in spans]
        busy = union_seconds(spans)
        entry = {
            "tasks": len(spans),
            "task_s": round(sum(durations), 1),
            "busy_s": round(busy, 1),
            "first_start_s": round(seconds(since, min(s for s, _ in spans)), 1) if spans else None,
            "last_end_s": round(seconds(since, max(e for _, e in spans)), 1) if spans else None,
            "floor_task_s": round(
                sum(floor.get(ti["dag_id"], 0.0) for ti in records if ti["start_date"]), 1
            ),
        }
        if group == "model":
            by_run = {r["dag_run_id"]: key for key, r in latest.get("model", {}).items()}
            per_key = {
                by_run.get(ti["dag_run_id"]): seconds(
                    parse_time(ti["start_date"]), parse_time(ti["end_date"])
                )
                for ti in records
            }
            catalogue_key = run_key_holding(catalogue_hour, per_key)
            others = sorted(v for k, v in per_key.items() if k != catalogue_key)
            entry |= {
                "catalogue_run_key": catalogue_key,
                "catalogue_hour_s": round(per_key.get(catalogue_key) or 0.0, 1),
                "other_hours_median_s": round(others[len(others) // 2], 1) if others else None,
                "other_hours_max_s": round(others[-1], 1) if others else None,
                "queued_s": round(sum(durations) - busy, 1),
            }
        out[group] = entry
    # Airflow's gaps between a task being ready and running, and each run's wall time.
    out["gaps"] = {
        d: profile_tis(
            tis.get(d, ()),
            upstream.get(d, {}),
            {r["dag_run_id"]: r for r in latest.get(d, {}).values()},
        )
        for d in latest
    }
    return out


def run_key_holding(hour_key: str | None, run_keys: Iterable[str | None]) -> str | None:
    """The run key among ``run_keys`` whose window holds the hour ``hour_key`` (the hour
    itself for hourly runs, the day's window when the day ran as one); None if none does."""
    from sparkify.pipeline import partitions

    keys = [k for k in run_keys if k]
    if hour_key is None or hour_key in keys:
        return hour_key
    try:
        hour = partitions.parse_key(hour_key)
    except partitions.PartitionKeyError:
        return None
    for key in keys:
        try:
            window = partitions.parse_window(key)
        except partitions.PartitionKeyError:
            continue
        if window.start <= hour < window.end:
            return key
    return None


def floor_durations(results: Mapping[str, Any]) -> dict[str, float]:
    """DAG id -> the median no-op task duration of its floor DAG, from an earlier
    ``backfill`` part's profile in ``results.json`` (empty when there is none)."""
    floor = (results.get("backfill_profile") or {}).get("floor") or {}
    return {
        name.removeprefix("floor_"): part["duration"]["median"]
        for name, part in floor.items()
        if name.startswith("floor_") and "duration" in part and "median" in part["duration"]
    }


def _catalogue_hour(dsn: str) -> str | None:
    """The hour whose ``stage_songs`` staged the catalogue (the most songs)."""
    import psycopg

    from sparkify.pipeline import partitions

    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT partition_hour FROM staging_partitions WHERE dataset = 'songs' "
            "ORDER BY rows_staged DESC LIMIT 1"
        ).fetchone()
    return partitions.format_key(row[0].replace(tzinfo=UTC)) if row else None
