"""Hourly partitions: the key Airflow gives a run, its S3 prefix and SQL window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

KEY_FORMAT = "%Y-%m-%dT%H:%M:%S"  # CronPartitionTimetable's default key_format
HOUR = timedelta(hours=1)


class PartitionKeyError(ValueError):
    """A partition key that is not the start of a UTC hour."""


def parse_key(key: str | None) -> datetime:
    """The UTC hour a partition key names, e.g. ``2018-11-02T13:00:00``.

    Strict on purpose: the hour ends up in SQL text of the common-sql check operators,
    so only a key that round-trips through ``KEY_FORMAT`` is accepted.
    """
    if not key:
        raise PartitionKeyError("this run has no partition key; trigger it with one")
    try:
        hour = datetime.strptime(key, KEY_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise PartitionKeyError(f"partition key {key!r} is not {KEY_FORMAT}") from exc
    if hour.minute or hour.second or hour.strftime(KEY_FORMAT) != key:
        raise PartitionKeyError(f"partition key {key!r} is not the start of an hour")
    return hour


def format_key(hour: datetime) -> str:
    return hour.astimezone(UTC).strftime(KEY_FORMAT)


def events_prefix(root: str, hour: datetime) -> str:
    """The hourly prefix events of ``hour`` land under: ``log_data/YYYY/MM/DD/HH/``."""
    return f"{root.rstrip('/')}/{hour:%Y/%m/%d/%H}/"


def sql_literal(hour: datetime) -> str:
    """A timestamp literal for SQL text where a bound parameter is impossible."""
    return f"TIMESTAMP '{hour.astimezone(UTC):%Y-%m-%d %H:%M:%S}'"


def naive_utc(hour: datetime) -> datetime:
    """The hour as a naive UTC datetime, as stored in ``TIMESTAMP`` columns."""
    return hour.astimezone(UTC).replace(tzinfo=None)


def hours_between(first: date, last: date) -> Iterator[datetime]:
    """Every UTC hour from the start of ``first`` to the end of ``last``, inclusive."""
    hour = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    while hour < end:
        yield hour
        hour += HOUR
