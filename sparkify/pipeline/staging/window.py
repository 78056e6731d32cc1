"""Staging a window of hours: one listing per day, one staging transaction per hour.

A run's window is cut into its hours here so that every hour is staged, recorded in the
load ledger, ``staging_partitions`` and ``staging_rejects``, exactly as an hourly run of it
would be: the per-hour functions of ``postgres`` and ``redshift`` are called unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from os.path import commonprefix
from typing import Any

from sparkify.pipeline import partitions
from sparkify.pipeline.staging import ledger as bookkeeping
from sparkify.pipeline.staging.objects import SourceObject
from sparkify.pipeline.staging.stats import StageStats

COUNTS = ("objects", "read", "staged", "rejected", "duplicate", "coerced")


def list_hours(
    source: Any, pattern: str, hours: Sequence[datetime]
) -> dict[datetime, list[SourceObject]]:
    """The objects under each hour's prefix (``hour.strftime(pattern)``), listed once a day.

    One LIST per UTC day of the window rather than one per hour: a month is 30 listings,
    not 720. Objects are given to the hour whose prefix they start with; an object under
    the day's prefix but no hour's (another folder) belongs to none.
    """
    found: dict[datetime, list[SourceObject]] = {hour: [] for hour in hours}
    for _day, day_hours in groupby(hours, key=lambda h: h.date()):
        prefixes = {hour.strftime(pattern): hour for hour in day_hours}
        # Character-wise on purpose: the longest text every hour's prefix starts with.
        common = commonprefix(list(prefixes))  # noqa: RUF071
        # Longest prefixes first, so that an hour prefix that starts another is not matched
        # for the other's objects (not the case for %H, but patterns are configuration).
        ordered = sorted(prefixes, key=len, reverse=True)
        for obj in source.list(common):
            for prefix in ordered:
                if obj.key.startswith(prefix):
                    found[prefixes[prefix]].append(obj)
                    break
    return found


def record_quiet_hours(
    dataset: str,
    hours: Sequence[datetime],
    *,
    db_hook: Any,
    dialect: str,
    conn: Any = None,
) -> list[StageStats]:
    """Songs: every hour of a window after its first, recorded in one transaction as
    finding nothing new (each keeps what it recorded before, or is recorded empty), as the
    later runs of a series of hourly runs would be. One transaction, not one per hour: a
    month is 719 such hours, which took half a minute one by one.

    ``conn``: an open PostgreSQL connection to use (else one is opened and closed here).
    """
    if not hours:
        return []
    if dialect == "redshift":
        from sparkify.pipeline.warehouse import bind_named_parameters

        bind_named_parameters()
        own = db_hook.get_conn()
        own.autocommit = False
        try:
            with own.cursor() as cur:
                recorded = _record_quiet(cur, dialect, dataset, hours)
            own.commit()
        except BaseException:
            own.rollback()
            raise
        finally:
            own.close()
        return recorded
    connection = conn if conn is not None else db_hook.get_conn()
    try:
        with connection.transaction(), connection.cursor() as cur:
            return _record_quiet(cur, dialect, dataset, hours)
    finally:
        if conn is None:
            connection.close()


def _record_quiet(cur: Any, dialect: str, dataset: str, hours: Sequence[datetime]):
    # The lock every song load takes first (Redshift: the one staging lock).
    bookkeeping.lock(cur, dialect, "staging" if dialect == "redshift" else "songs")
    recorded = []
    for hour in hours:
        stats = StageStats(dataset, partitions.format_key(hour))
        bookkeeping.keep_or_record_empty(cur, stats, partitions.naive_utc(hour))
        recorded.append(stats)
    return recorded


def combine(dataset: str, key: str, per_hour: Sequence[StageStats]) -> StageStats:
    """One window's counts: the sum of its hours' (what the Asset event's ``extra`` carries)."""
    total = StageStats(dataset, key)
    for stats in per_hour:
        for name in COUNTS:
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        total.source_keys.extend(stats.source_keys)
        total.reasons.update(stats.reasons)
        for field, kinds in stats.drift.items():
            merged = total.drift.setdefault(field, {})
            for kind, n in kinds.items():
                merged[kind] = merged.get(kind, 0) + n
    total.unchanged = bool(per_hour) and all(s.unchanged for s in per_hour)
    return total
