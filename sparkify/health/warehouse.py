"""The health page's reads from the warehouse: the pipeline's own tables, bounded by the
range (``sql/health/*.sql``), through the warehouse connection's DB-API hook."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sparkify.health.model import (
    CHECKS_DAG,
    DATASET_DAGS,
    PLAYS_DAG,
    FailedCheck,
    Health,
    HourStats,
    hours,
)
from sparkify.pipeline import partitions
from sparkify.pipeline.sql import render, statements

REASONS_PER_HOUR = 3


class OneConnection:
    """``get_records`` over one DB-API connection of ``db_hook`` for all of a page's reads
    (a hook's own ``get_records`` opens a connection per statement: six logins a page)."""

    def __init__(self, db_hook: Any) -> None:
        self.conn_type = getattr(db_hook, "conn_type", None)
        self._conn = db_hook.get_conn()

    def get_records(self, sql: str, parameters: Any = None) -> list:
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql, parameters)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> OneConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _query(db_hook: Any, dialect: str, name: str, first: datetime, last: datetime) -> list:
    (sql,) = statements(render(f"health/{name}", dialect))
    params = {"first_hour": partitions.naive_utc(first), "last_hour": partitions.naive_utc(last)}
    return list(db_hook.get_records(sql, parameters=params))


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def newest_hours(db_hook: Any, dialect: str, until: datetime) -> tuple[datetime | None, ...]:
    """(newest hour with staged events, newest hour staged) at or before ``until``."""
    ((with_events, staged),) = _query(db_hook, dialect, "read_newest_hour", until, until)
    return _utc(with_events), _utc(staged)


def read_warehouse(health: Health, db_hook: Any, dialect: str) -> Health:
    """Fill ``health``'s per-hour figures, failed checks and freshness from the warehouse:
    of each figure only what the DAGs in ``health.dags`` produced (``model.DATASET_DAGS``,
    ``PLAYS_DAG``, ``CHECKS_DAG``); the rest is not read at all, or dropped here."""
    first, last = health.first, health.last
    datasets = {d for d, dag_id in DATASET_DAGS.items() if dag_id in health.dags}
    # The reads give each hour as epoch seconds (``EXTRACT(EPOCH ...)``): one look-up each.
    hour_of = {int(h.timestamp()): h for h in hours(first, last)}
    stats: dict[datetime, HourStats] = {}

    def at(epoch: Any) -> HourStats:
        hour = hour_of.get(int(epoch)) or datetime.fromtimestamp(int(epoch), UTC)
        found = stats.get(hour)
        if found is None:
            found = stats[hour] = HourStats()
        return found

    for dataset, epoch, _objects, read, staged, rejected, duplicate, coerced in _query(
        db_hook, dialect, "read_partition_stats", first, last
    ):
        if dataset not in datasets:
            continue
        s = at(epoch)
        s.read += read
        s.staged += staged
        s.rejected += rejected
        s.duplicate += duplicate
        s.coerced += coerced
    reasons: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if datasets:
        for dataset, epoch, reason, lines in _query(
            db_hook, dialect, "read_reject_reasons", first, last
        ):
            if dataset in datasets:
                reasons[epoch].append((reason, int(lines)))
    for epoch, found in reasons.items():
        merged: dict[str, int] = defaultdict(int)
        for reason, lines in found:
            merged[reason] += lines
        at(epoch).reasons = sorted(merged.items(), key=lambda r: (-r[1], r[0]))[:REASONS_PER_HOUR]
    if PLAYS_DAG in health.dags:
        for epoch, plays, matched in _query(db_hook, dialect, "read_plays", first, last):
            s = at(epoch)
            s.plays, s.matched = int(plays), int(matched)
    if CHECKS_DAG in health.dags:
        for epoch, outcomes, failed in _query(
            db_hook, dialect, "read_check_failures_per_hour", first, last
        ):
            s = at(epoch)
            s.checks, s.checks_failed = int(outcomes), int(failed)
        health.failed_checks = [
            FailedCheck(check, table, _utc(hour), value, _utc(checked_at))
            for check, table, hour, value, checked_at in _query(
                db_hook, dialect, "read_failed_checks", first, last
            )
        ]
    health.hours = stats
    if DATASET_DAGS["events"] in health.dags:
        health.newest_with_events, health.newest_staged = newest_hours(db_hook, dialect, last)
    return health
