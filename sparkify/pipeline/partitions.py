"""Partitions: the key Airflow gives a run, the window of hours it names, S3 prefixes.

A partition is one UTC hour, keyed ``2018-11-13T05:00:00`` (``CronPartitionTimetable``'s
default ``key_format``). A run's key names a *window*: one hour, or, for backfills, a range
of whole hours as an ISO 8601 interval, ``2018-11-13T00:00:00/2018-11-14T00:00:00``
(start inclusive, end exclusive). Bookkeeping stays per hour whatever the window.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

KEY_FORMAT = "%Y-%m-%dT%H:%M:%S"  # CronPartitionTimetable's default key_format
HOUR = timedelta(hours=1)
# The widest window a key may name: a run holds the model's locks for its whole window, and
# a bad key (a typo in a year) should be refused, not start a decade's load.
MAX_WINDOW = timedelta(days=92)
# The first hour of the public data set: every DAG's start_date, and where backfills may start.
START_DATE = datetime(2018, 11, 1, tzinfo=UTC)


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


@dataclass(frozen=True, slots=True)
class Window:
    """The whole UTC hours from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for bound in (self.start, self.end):
            if bound.tzinfo is None or bound.utcoffset() != timedelta(0):
                raise PartitionKeyError(f"window bound {bound!r} is not an aware UTC datetime")
            if bound.minute or bound.second or bound.microsecond:
                raise PartitionKeyError(f"window bound {bound.isoformat()} is not a whole hour")
        if self.end <= self.start:
            raise PartitionKeyError(
                f"window {format_key(self.start)}/{format_key(self.end)} ends before it starts"
            )
        if self.end - self.start > MAX_WINDOW:
            raise PartitionKeyError(
                f"window {format_key(self.start)}/{format_key(self.end)} is longer than "
                f"{MAX_WINDOW.days} days; backfill it in smaller windows"
            )

    @classmethod
    def of_hour(cls, hour: datetime) -> Window:
        return cls(hour, hour + HOUR)

    @property
    def key(self) -> str:
        """The canonical key: the hour's key for one hour, else ``start/end``."""
        if self.end - self.start == HOUR:
            return format_key(self.start)
        return f"{format_key(self.start)}/{format_key(self.end)}"

    @property
    def last_hour(self) -> datetime:
        return self.end - HOUR

    def hours(self) -> list[datetime]:
        """Every hour of the window, in order."""
        count = int((self.end - self.start) / HOUR)
        return [self.start + HOUR * n for n in range(count)]

    def __len__(self) -> int:
        return int((self.end - self.start) / HOUR)

    def params(self) -> dict[str, datetime]:
        """The bound parameters of SQL over the window: ``window_start``, ``window_end``
        (naive UTC, as stored), and ``partition_hour``, the window's first hour."""
        return {
            "window_start": naive_utc(self.start),
            "window_end": naive_utc(self.end),
            "partition_hour": naive_utc(self.start),
        }


def parse_window(key: str | None) -> Window:
    """The window a partition key names: an hour (``parse_key``) or ``start/end``.

    Both bounds of an interval are hour keys in ``KEY_FORMAT``; the end is exclusive, so
    ``2018-11-13T00:00:00/2018-11-14T00:00:00`` is the 24 hours of 13 November.
    """
    if not key:
        raise PartitionKeyError("this run has no partition key; trigger it with one")
    if "/" not in key:
        return Window.of_hour(parse_key(key))
    first, _, last = key.partition("/")
    if "/" in last:
        raise PartitionKeyError(f"partition key {key!r} has more than one '/'")
    if not first or not last:
        raise PartitionKeyError(f"partition key {key!r} is not an interval start/end")
    try:
        return Window(parse_key(first), parse_key(last))
    except PartitionKeyError as exc:
        raise PartitionKeyError(f"partition key {key!r}: {exc}") from exc


def day_windows(start: datetime, end: datetime) -> list[Window]:
    """``start``..``end`` (whole hours, end exclusive) cut at each UTC midnight."""
    windows = []
    while start < end:
        midnight = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=1)
        stop = min(midnight, end)
        windows.append(Window(start, stop))
        start = stop
    return windows


def longest_windows(start: datetime, end: datetime) -> list[Window]:
    """``start``..``end`` (whole hours, end exclusive) in as few windows as ``MAX_WINDOW``
    allows: one when it fits, else windows of ``MAX_WINDOW`` cut at a UTC midnight."""
    windows = []
    while start < end:
        stop = start + MAX_WINDOW
        # Not the last: back to the midnight before, so the next window starts a day.
        stop = datetime(stop.year, stop.month, stop.day, tzinfo=UTC) if stop < end else end
        windows.append(Window(start, stop))
        start = stop
    return windows


# Under the events' root, each hour's objects land in a prefix of their own, the layout
# Kinesis Firehose writes: <events_prefix>/YYYY/MM/DD/HH/.
HOUR_LAYOUT = "%Y/%m/%d/%H/"


def data_root(prefix: str) -> str:
    """A data set's root (the setting ``events_prefix`` or ``songs_prefix``) as its object keys
    begin: ``log_data`` and ``/log_data/`` are both ``log_data/``."""
    return prefix.strip("/") + "/"


def events_hour_pattern(root: str) -> str:
    """Where the events of an hour land, as a strftime pattern of the hour:
    ``<root>/%Y/%m/%d/%H/``, ``root`` being the setting ``events_prefix`` (``log_data``).

    The one place the hour layout is derived: staging, its sensor, late detection, the
    routing of bucket notifications and the local tooling all go through it.
    """
    return data_root(root).replace("%", "%%") + HOUR_LAYOUT


def events_prefix(root: str, hour: datetime) -> str:
    """The prefix the events of ``hour`` land under: ``log_data/YYYY/MM/DD/HH/``."""
    return hour.strftime(events_hour_pattern(root))


def events_hour(root: str, key: str) -> datetime | None:
    """The hour whose prefix (``events_prefix(root, hour)``) holds the object ``key``, or
    None when ``key`` lies outside every hour's prefix. An object may sit in a folder below
    the hour's prefix (staging lists the prefix whole), not in one with an empty name."""
    base = data_root(root)
    if not key.startswith(base):
        return None
    depth = HOUR_LAYOUT.count("/")
    parts = key[len(base) :].split("/", depth)
    if len(parts) <= depth:
        return None
    try:
        hour = datetime.strptime("/".join(parts[:depth]) + "/", HOUR_LAYOUT)
    except ValueError:  # 2018/13/40/25, or not digits at all
        return None
    hour = hour.replace(tzinfo=UTC)
    prefix = events_prefix(root, hour)
    # The round trip refuses what strptime is lenient about (2018/1/3/5/, " 5").
    if not key.startswith(prefix) or key[len(prefix) : len(prefix) + 1] in ("", "/"):
        return None
    return hour


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
