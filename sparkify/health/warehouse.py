"""The health page's reads from the warehouse: the pipeline's own tables, bounded by the
range (``sql/health/*.sql``), through the warehouse connection's DB-API hook."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sparkify.health.model import FailedCheck, Health, HourStats
from sparkify.pipeline import partitions
from sparkify.pipeline.sql import render, statements

REASONS_PER_HOUR = 3


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
    """Fill ``health``'s per-hour figures, failed checks and freshness from the warehouse."""
    first, last = health.first, health.last
    stats: dict[datetime, HourStats] = defaultdict(HourStats)
    for _dataset, hour, _objects, read, staged, rejected, duplicate, coerced in _query(
        db_hook, dialect, "read_partition_stats", first, last
    ):
        s = stats[_utc(hour)]
        s.read += read
        s.staged += staged
        s.rejected += rejected
        s.duplicate += duplicate
        s.coerced += coerced
    reasons: dict[datetime, list[tuple[str, int]]] = defaultdict(list)
    for hour, reason, lines in _query(db_hook, dialect, "read_reject_reasons", first, last):
        reasons[_utc(hour)].append((reason, int(lines)))
    for hour, found in reasons.items():
        stats[hour].reasons = sorted(found, key=lambda r: (-r[1], r[0]))[:REASONS_PER_HOUR]
    for hour, plays, matched in _query(db_hook, dialect, "read_plays", first, last):
        stats[_utc(hour)].plays, stats[_utc(hour)].matched = int(plays), int(matched)
    for hour, outcomes, failed in _query(
        db_hook, dialect, "read_check_failures_per_hour", first, last
    ):
        stats[_utc(hour)].checks, stats[_utc(hour)].checks_failed = int(outcomes), int(failed)
    health.hours = dict(stats)
    health.failed_checks = [
        FailedCheck(check, table, _utc(hour), value, _utc(checked_at))
        for check, table, hour, value, checked_at in _query(
            db_hook, dialect, "read_failed_checks", first, last
        )
    ]
    health.newest_with_events, health.newest_staged = newest_hours(db_hook, dialect, last)
    return health
