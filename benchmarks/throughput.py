"""Backfill throughput: hourly partitions a minute through the whole chain, and the floor.

``sparkify.backfill.backfill(client, "all", first, last)`` on the running local stack
(``airflow_stack``): Airflow's backfill of ``stage_events`` and ``stage_songs``, after
which ``model`` and ``quality`` follow each partition by their Assets;
``wait_for_partitions`` until every partition has finished in all four DAGs. Elapsed is
from the backfill's submission (the API server's clock) to the end of the last run.

Then the same backfill of the floor DAGs (``floor_dags.py``: the same shape, timetables and
settings, tasks that do nothing): what Airflow itself costs per partition here.
``backfill_vs_floor`` = ours / floor, partitions a minute (1.0: as fast as empty tasks).
Both are profiled from the task instance records: scheduling gaps against task durations.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.airflow_stack import FLOOR_ASSET_DAGS, FLOOR_DAGS, FLOOR_STAGING
from benchmarks.latency import upstream_of
from benchmarks.timing import asset_hops, chain_elapsed, partitions_per_minute, profile_tis
from sparkify.control import (
    ASSET_DAGS,
    PAGE_LIMIT,
    STAGING_DAGS,
    backfill,
    unpause,
    wait_for_partitions,
)

FIRST_HOUR = datetime(2018, 11, 1, 0, tzinfo=UTC)
TIMEOUT_S = 1800.0


def fetch_tis(client, dag_id: str, run_ids: set[str], since: datetime) -> list[dict[str, Any]]:
    """Task instances of ``dag_id``'s runs ``run_ids`` (that started after ``since``)."""
    tis, offset = [], 0
    stamp = since.astimezone(UTC).isoformat().replace("+00:00", "Z")
    while True:
        page = client.get(
            f"/dags/{dag_id}/dagRuns/~/taskInstances",
            start_date_gte=stamp,  # not run_after: a backfill run's is its partition's time
            limit=PAGE_LIMIT,
            offset=offset,
            order_by="id",
        )
        batch = page["task_instances"]
        tis += [ti for ti in batch if ti["dag_run_id"] in run_ids]
        offset += len(batch)
        if not batch or offset >= page["total_entries"]:
            return tis


def run_chain(
    client,
    staging: Sequence[str],
    assets: Sequence[str],
    first: datetime,
    hours: int,
    *,
    grain: str = "hour",
    echo: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Backfill ``hours`` partitions from ``first`` through ``staging`` then ``assets``, one
    run per window of ``grain`` (``hour``: the live schedule's grain)."""
    last = first + timedelta(hours=hours - 1)
    subs = backfill(
        client,
        "all",
        first,
        last,
        grain=grain,
        staging_dags=staging,
        asset_dags=assets,
    )
    since = min(s.since for s in subs)
    keys = list(subs[0].keys)
    began = time.monotonic()
    latest = wait_for_partitions(
        client, (*staging, *assets), keys, since=since, timeout=TIMEOUT_S, poll_interval=2.0
    )
    echo(f"  {staging[0]} ..: {len(keys)} partitions in {time.monotonic() - began:.0f}s (wall)")
    failed = {
        d: sorted(k for k, r in runs.items() if r["state"] != "success")
        for d, runs in latest.items()
    }
    failed = {d: ks for d, ks in failed.items() if ks}
    if failed:
        raise RuntimeError(f"failed partitions: {failed}")
    elapsed = chain_elapsed(since, [r for runs in latest.values() for r in runs.values()])
    profile = {}
    for dag_id, runs in latest.items():
        by_id = {r["dag_run_id"]: r for r in runs.values()}
        tis = fetch_tis(client, dag_id, set(by_id), since)
        profile[dag_id] = profile_tis(tis, upstream_of(client, dag_id), by_id)
    profile["asset_hop_to_" + assets[0]] = asset_hops(
        [latest[d] for d in staging], latest[assets[0]]
    )
    profile["asset_hop_to_" + assets[1]] = asset_hops([latest[assets[0]]], latest[assets[1]])
    return {
        "partitions": len(keys),
        "elapsed_s": round(elapsed, 1),
        "partitions_per_minute": partitions_per_minute(len(keys), elapsed),
        "profile": profile,
    }


def run(
    client,
    *,
    hours: int,
    first_hour: datetime = FIRST_HOUR,
    grain: str = "hour",
    echo: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    ours = run_chain(
        client,
        STAGING_DAGS,
        ASSET_DAGS,
        first_hour,
        hours,
        grain=grain,
        echo=echo,
    )
    unpause(client, FLOOR_DAGS)
    floor = run_chain(
        client,
        FLOOR_STAGING,
        FLOOR_ASSET_DAGS,
        first_hour,
        hours,
        grain=grain,
        echo=echo,
    )
    return {
        "partitions_per_minute": ours["partitions_per_minute"],
        "floor_partitions_per_minute": floor["partitions_per_minute"],
        "backfill_vs_floor": round(
            ours["partitions_per_minute"] / floor["partitions_per_minute"], 2
        ),
        "backfill_partitions": hours,
        "backfill_grain": grain,
        "backfill_elapsed_s": ours["elapsed_s"],
        "floor_elapsed_s": floor["elapsed_s"],
        "backfill_profile": {"ours": ours["profile"], "floor": floor["profile"]},
    }
