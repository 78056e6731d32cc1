"""Airflow's run states for the grid: the latest run of each DAG for each hour.

Two sources give the same answer: the metadata database (inside the api-server, where
the plugin runs: one query bounded by the range) and the REST API (``sparkify report``,
from anywhere). A window's run (key ``start/end``) counts for every hour it covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sparkify.health.model import GRID_DAGS, Run, hours, key_hours
from sparkify.pipeline import partitions

_KNOWN = {"success", "failed", "running", "queued"}


def latest_runs(
    rows: Iterable[tuple[str, str, str, str, int]],
    first: datetime,
    last: datetime,
    dags: tuple[str, ...] = GRID_DAGS,
) -> dict[str, dict[datetime, Run]]:
    """``(dag_id, partition_key, run_id, state, order)`` rows -> dag -> hour -> latest run.

    ``order`` ranks runs of one key: the greater is the later (the run's id).
    """
    # Keys of single hours are by far the most: look them up rather than parse each.
    hour_of = {partitions.format_key(h): h for h in hours(first, last)}
    best: dict[tuple[str, datetime], tuple[int, Run]] = {}
    for dag_id, key, run_id, state, order in rows:
        if dag_id not in dags:
            continue
        state = state if state in _KNOWN else "queued"
        single = hour_of.get(key)
        covered = (single,) if single is not None else key_hours(key or "")
        for hour in covered:
            if first <= hour <= last:
                slot = (dag_id, hour)
                if slot not in best or order >= best[slot][0]:
                    best[slot] = (order, Run(dag_id, key, run_id, state))
    result: dict[str, dict[datetime, Run]] = {dag_id: {} for dag_id in dags}
    for (dag_id, hour), (_order, run) in best.items():
        result.setdefault(dag_id, {})[hour] = run
    return result


def key_bounds(first: datetime, last: datetime) -> tuple[str, str]:
    """Keys ``>= low`` and ``< high`` are those starting inside the range (windows too)."""
    return partitions.format_key(first), partitions.format_key(last + partitions.HOUR)


def runs_from_metadata(
    first: datetime, last: datetime, dags: tuple[str, ...] = GRID_DAGS
) -> dict[str, dict[datetime, Run]]:
    """From Airflow's metadata database (the api-server's own session): ``dags`` only."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    low, high = key_bounds(first, last)
    # Core columns, not ORM entities: a year is 35,040 rows. Airflow's dag_run has no index
    # on partition_key; the query goes by idx_dag_run_dag_id and filters the key range.
    table = DagRun.__table__
    query = select(
        table.c.dag_id, table.c.partition_key, table.c.run_id, table.c.state, table.c.id
    ).where(
        table.c.dag_id.in_(dags),
        table.c.partition_key >= low,
        table.c.partition_key < high,
    )
    with create_session() as session:
        rows = session.execute(query).all() if dags else []
    return latest_runs(rows, first, last, dags)


def runs_from_api(
    client: Any, first: datetime, last: datetime, dags: tuple[str, ...] = GRID_DAGS
) -> dict[str, dict[datetime, Run]]:
    """From the REST API (``GET /dags/{id}/dagRuns``, filtered by key prefix, paginated)."""
    from sparkify.control.wait import fetch_runs_between

    low, high = key_bounds(first, last)
    rows = []
    for dag_id in dags:
        for order, run in enumerate(fetch_runs_between(client, dag_id, low, high)):
            rows.append((dag_id, run["partition_key"], run["dag_run_id"], run["state"], order))
    return latest_runs(rows, first, last, dags)
