"""Ranges of UTC hours as users write them (days or hours), and DAG choices."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from sparkify.control.dags import ASSET_DAGS, STAGING_DAGS, BackfillError
from sparkify.pipeline import partitions

_WHEN = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2})(?::00(?::00)?)?)?(?:Z|\+00:00)?$")


def parse_when(text: str) -> date | datetime:
    """``YYYY-MM-DD`` (a whole UTC day) or ``YYYY-MM-DDTHH[:00[:00]]`` (one UTC hour)."""
    match = _WHEN.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is neither YYYY-MM-DD nor YYYY-MM-DDTHH (UTC)")
    day = date.fromisoformat(match.group(1))
    if match.group(2) is None:
        return day
    hour = int(match.group(2))
    if hour > 23:
        raise ValueError(f"{text!r}: hour {hour} is not 0-23")
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def spell(when: date | datetime) -> str:
    """A day or an hour as ``parse_when`` reads it (``2018-11-02``, ``2018-11-02T13``): how
    a refusal quotes what it was given."""
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            when = when.astimezone(UTC)
        return when.isoformat() if when.minute or when.second else f"{when:%Y-%m-%dT%H}"
    return when.isoformat()


def _as_hour(when: date | datetime, *, end: bool) -> datetime:
    if isinstance(when, datetime):
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        if when.minute or when.second or when.microsecond:
            raise ValueError(f"{when.isoformat()} is not the start of an hour")
        return when
    start = datetime(when.year, when.month, when.day, tzinfo=UTC)
    return start + timedelta(hours=23) if end else start


def bounds(first: date | datetime, last: date | datetime) -> tuple[datetime, datetime]:
    """The first and the last UTC hour of the range ``first`` .. ``last`` (``hour_range``).

    :raises ValueError: a range that ends before it starts, or a time within an hour
    """
    start, stop = _as_hour(first, end=False), _as_hour(last, end=True)
    if start > stop:
        raise ValueError(
            f"the range {spell(first)} .. {spell(last)} starts ({start:%Y-%m-%dT%H}) "
            f"after it ends ({stop:%Y-%m-%dT%H})"
        )
    return start, stop


def hour_range(
    first: date | datetime, last: date | datetime, *, now: datetime | None = None
) -> list[datetime]:
    """Every UTC hour from ``first`` to ``last``, both inclusive, that is over by ``now``.

    A ``date`` stands for all of its hours, a ``datetime`` for that one hour. Hours that
    have not ended yet are left out: their partitions cannot be complete.
    """
    start, stop = bounds(first, last)
    now = now or datetime.now(UTC)
    hours = []
    hour = start
    while hour <= stop and hour + partitions.HOUR <= now:
        hours.append(hour)
        hour += partitions.HOUR
    return hours


def expand_dags(
    dag_ids: str | Iterable[str],
    *,
    staging_dags: Sequence[str] = STAGING_DAGS,
    asset_dags: Sequence[str] = ASSET_DAGS,
) -> tuple[str, ...]:
    """``all`` means the staging DAGs (model and quality follow by their assets).

    ``staging_dags`` and ``asset_dags`` name the pipeline's DAGs (default: this project's;
    the benchmarks pass look-alikes of them).
    """
    choices = (*staging_dags, *asset_dags, "all")
    names = [dag_ids] if isinstance(dag_ids, str) else list(dag_ids)
    result: list[str] = []
    for name in names:
        if name not in choices:
            raise BackfillError(f"unknown DAG {name!r}; choose from {', '.join(choices)}")
        for dag_id in staging_dags if name == "all" else (name,):
            if dag_id not in result:
                result.append(dag_id)
    return tuple(result)
