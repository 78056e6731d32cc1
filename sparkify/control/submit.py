"""``sparkify backfill``: run every hour of a range again, through Airflow's REST API.

- ``stage_events`` and ``stage_songs`` (``CronPartitionTimetable``) get Airflow's own
  backfill (``POST /api/v2/backfills``): one run per hourly partition, keyed like
  ``2018-11-02T13:00:00``. ``reprocess_behavior`` is ``completed``, so hours that already
  ran (successfully or not) run again; Airflow keeps the earlier run and adds a new one.
  A run of the hour still in flight is left to finish and counts as that hour's run.
- ``model`` and ``quality`` (``PartitionedAssetTimetable``) cannot be backfilled by Airflow,
  which needs a time schedule: one run per partition key is created with
  ``POST /api/v2/dags/{dag_id}/dagRuns``. A ``model`` run emits ``modeled`` for its key, so
  ``quality`` follows by itself.
- ``--dag all`` (the default) backfills both staging DAGs; ``model`` runs for each hour
  once both have staged it, and ``quality`` after it.

``wait_for_partitions`` polls ``GET /api/v2/dags/{dag_id}/dagRuns`` (filtered on the server
by partition-key prefix and state, cursor-paginated, and after the first poll only for runs
that finished since) until every key has a finished run, with a live progress bar per DAG.
The DAGs are idempotent, so backfilling a range twice leaves every table as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sparkify.pipeline import partitions

if TYPE_CHECKING:
    from sparkify.control.api import ApiClient

from sparkify.control.dags import (
    ACTIVE,
    ASSET_DAGS,
    PAGE_LIMIT,
    REPROCESS_BEHAVIORS,
    STAGING_DAGS,
    BackfillError,
    dag_info,
    iso,
    parse_time,
)
from sparkify.control.ranges import expand_dags, hour_range


@dataclass(frozen=True)
class Submission:
    """What one DAG's backfill asked Airflow for.

    ``since`` is the API server's time when the request was accepted: a run of a key that
    finished after it is that key's run for this backfill.
    """

    dag_id: str
    keys: tuple[str, ...]
    since: datetime
    backfill_id: int | None = None  # Airflow's backfill (time-scheduled DAGs)
    run_ids: tuple[str, ...] = field(default=())  # runs created one by one (asset-scheduled)


def backfill(
    client: ApiClient,
    dag_ids: str | Iterable[str],
    first: date | datetime,
    last: date | datetime,
    *,
    max_active_runs: int | Mapping[str, int] | None = None,
    reprocess_behavior: str = "completed",
    busy_timeout: float = 60.0,
    staging_dags: Sequence[str] = STAGING_DAGS,
    asset_dags: Sequence[str] = ASSET_DAGS,
) -> list[Submission]:
    """Start a backfill of every hour from ``first`` to ``last`` (inclusive) for ``dag_ids``.

    :param dag_ids: names from ``PIPELINE_DAGS``, or ``all`` (the staging DAGs)
    :param first: first day (all its hours) or first hour (a ``datetime``), UTC
    :param last: last day or last hour, inclusive; hours not over yet are left out
    :param max_active_runs: concurrent runs of an Airflow backfill, for all DAGs or per DAG
        id; default: the DAG's own ``max_active_runs`` (an Airflow backfill does not look at
        it: it runs as many as its own setting allows, 10 unless told)
    :param reprocess_behavior: ``completed`` re-runs every hour, ``failed`` only hours whose
        latest run failed, ``none`` only hours that never ran (staging DAGs only)
    :param busy_timeout: how long to wait for the previous backfill of a DAG to be marked
        complete (the scheduler does so every 30 s) when all its runs have finished
    :param staging_dags: the time-scheduled DAGs (Airflow's backfill; what ``all`` means)
    :param asset_dags: the asset-scheduled DAGs (one run per partition key)
    :returns: one ``Submission`` per DAG, to pass to ``wait_for_partitions``
    """
    if reprocess_behavior not in REPROCESS_BEHAVIORS:
        raise BackfillError(f"reprocess_behavior must be one of {', '.join(REPROCESS_BEHAVIORS)}")
    try:
        hours = hour_range(first, last)
    except ValueError as exc:
        raise BackfillError(str(exc)) from exc
    if not hours:
        raise BackfillError("no hour of the range is over yet: nothing to backfill")
    submissions = []
    for dag_id in expand_dags(dag_ids, staging_dags=staging_dags, asset_dags=asset_dags):
        if dag_id in staging_dags:
            limit = (
                max_active_runs.get(dag_id)
                if isinstance(max_active_runs, Mapping)
                else max_active_runs
            )
            sub = _airflow_backfill(client, dag_id, hours, limit, reprocess_behavior, busy_timeout)
        else:
            sub = _trigger_partitions(client, dag_id, hours)
        submissions.append(sub)
    return submissions


def _airflow_backfill(
    client: ApiClient,
    dag_id: str,
    hours: Sequence[datetime],
    max_active_runs: int | None,
    reprocess_behavior: str,
    busy_timeout: float,
) -> Submission:
    from sparkify.control.api import ApiError

    if max_active_runs is None:
        max_active_runs = int(dag_info(client, dag_id).get("max_active_runs") or 1)
    body = {
        "dag_id": dag_id,
        "from_date": iso(hours[0]),
        "to_date": iso(hours[-1]),  # inclusive: the partition tick equal to it is included
        "reprocess_behavior": reprocess_behavior,
        "max_active_runs": max_active_runs,
    }
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            created = client.post("/backfills", json=body)
            break
        except ApiError as exc:
            if exc.status_code == 409:
                _wait_previous_backfill(client, dag_id, deadline)
                continue
            if exc.status_code in (400, 404):
                raise BackfillError(f"{dag_id}: Airflow refused the backfill: {exc.body}") from exc
            raise
    return Submission(
        dag_id=dag_id,
        keys=tuple(partitions.format_key(h) for h in hours),
        since=parse_time(created["created_at"]),
        backfill_id=created["id"],
    )


def _wait_previous_backfill(client: ApiClient, dag_id: str, deadline: float) -> None:
    """Airflow allows one unfinished backfill per DAG. One whose runs are all done is
    marked complete by the scheduler within 30 s: wait for that, but not for real work."""
    backfills = client.get("/backfills", dag_id=dag_id, limit=PAGE_LIMIT, order_by="-id")
    active = [b for b in backfills["backfills"] if b["completed_at"] is None]
    runs = client.get(f"/dags/{dag_id}/dagRuns", run_type="backfill", state=list(ACTIVE), limit=1)
    busy = runs["total_entries"]
    ids = ", ".join(str(b["id"]) for b in active) or "?"
    if busy or time.monotonic() > deadline:
        raise BackfillError(
            f"{dag_id}: backfill {ids} is still running ({busy} run(s) queued or running); "
            f"wait for it, or cancel it: PUT /api/v2/backfills/{ids.split(',')[0]}/cancel"
        )
    time.sleep(2)


def _trigger_partitions(client: ApiClient, dag_id: str, hours: Sequence[datetime]) -> Submission:
    """One manual run per partition key: how asset-scheduled DAGs are backfilled."""
    dag_info(client, dag_id)  # a clear error if the DAG is missing
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    keys, run_ids, since = [], [], None
    for hour in hours:
        key = partitions.format_key(hour)
        # Not "backfill__...": Airflow reserves its run types' prefixes for those run types.
        run_id = f"sparkify_backfill__{key}__{stamp}"
        run = client.post(
            f"/dags/{dag_id}/dagRuns",
            json={
                "dag_run_id": run_id,
                "logical_date": None,
                "partition_key": key,
                "note": "sparkify backfill",
            },
        )
        since = since or parse_time(run["run_after"])
        keys.append(key)
        run_ids.append(run_id)
    return Submission(
        dag_id=dag_id,
        keys=tuple(keys),
        since=since or datetime.now(UTC),
        run_ids=tuple(run_ids),
    )
