"""What the health page shows, independent of where it was read from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sparkify.pipeline import partitions

# The DAGs of the grid, in the order of the chain.
GRID_DAGS = ("stage_events", "stage_songs", "model", "quality")
# Who produced each of the warehouse's figures: a figure is shown only to a user who may
# read that DAG's runs (``sparkify.health.access``). Staging counts are per dataset.
DATASET_DAGS = {"events": "stage_events", "songs": "stage_songs"}
PLAYS_DAG = "model"
CHECKS_DAG = "quality"
STATES = ("success", "failed", "running", "queued", "missing")
DEFAULT_DAYS = 7
MAX_HOURS = 24 * 366  # a year, and a leap day: the page's largest range


class Run(NamedTuple):
    """The latest run of one DAG for one partition key (a tuple: a year is 35,040)."""

    dag_id: str
    key: str
    run_id: str
    state: str  # one of STATES but "missing"


@dataclass
class HourStats:
    """What staging counted for one hour (events and songs together), and its plays."""

    read: int = 0
    staged: int = 0
    rejected: int = 0
    duplicate: int = 0
    coerced: int = 0
    plays: int = 0
    matched: int = 0
    checks: int = 0
    checks_failed: int = 0
    reasons: list[tuple[str, int]] = field(default_factory=list)  # commonest first

    @property
    def reject_rate(self) -> float | None:
        return self.rejected / self.read if self.read else None

    @property
    def matched_share(self) -> float | None:
        return self.matched / self.plays if self.plays else None


@dataclass(frozen=True)
class FailedCheck:
    check: str
    table: str
    hour: datetime | None
    value: str | None
    checked_at: datetime


@dataclass
class Health:
    """Everything the page shows for the hours ``first`` .. ``last`` (inclusive)."""

    first: datetime
    last: datetime
    # The DAGs the reader may see, in GRID_DAGS' order: only their cells and figures.
    dags: tuple[str, ...] = GRID_DAGS
    runs: dict[str, dict[datetime, Run]] = field(default_factory=dict)  # dag -> hour -> run
    hours: dict[datetime, HourStats] = field(default_factory=dict)
    failed_checks: list[FailedCheck] = field(default_factory=list)
    newest_with_events: datetime | None = None
    newest_staged: datetime | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def shows(self, figures: str) -> bool:
        """Whether the reader may see a group of figures: ``lines`` (staging's counts and
        reject reasons: a staging DAG), ``plays`` (``model``) or ``checks`` (``quality``).
        A hidden group is left out of the page and its data, never shown as zero."""
        if figures == "lines":
            return any(dag_id in self.dags for dag_id in DATASET_DAGS.values())
        return {"plays": PLAYS_DAG, "checks": CHECKS_DAG}[figures] in self.dags

    def hour_list(self) -> list[datetime]:
        return list(hours(self.first, self.last))

    def state(self, dag_id: str, hour: datetime) -> str:
        run = self.runs.get(dag_id, {}).get(hour)
        return run.state if run else "missing"

    def state_counts(self, dag_id: str) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        runs = self.runs.get(dag_id, {})
        for run in runs.values():
            counts[run.state] += 1
        counts["missing"] = len(self.hour_list()) - len(runs)
        return counts

    def freshness_hours(self, now: datetime | None = None) -> float | None:
        """Hours from the end of the newest hour with events to ``now``."""
        if self.newest_with_events is None:
            return None
        now = now or self.generated_at
        return (now - (self.newest_with_events + partitions.HOUR)).total_seconds() / 3600


def hours(first: datetime, last: datetime):
    hour = first
    while hour <= last:
        yield hour
        hour += partitions.HOUR


def key_hours(key: str) -> list[datetime]:
    """The hours a partition key covers: one hour, or a window ``start/end`` (end exclusive).

    A key that is neither covers nothing (an unpartitioned run does not show in the grid).
    """
    try:
        if "/" in key:
            start_text, end_text = key.split("/", 1)
            start, end = partitions.parse_key(start_text), partitions.parse_key(end_text)
            return list(hours(start, end - partitions.HOUR))
        return [partitions.parse_key(key)]
    except partitions.PartitionKeyError:
        return []


def parse_range(
    first: str | None, last: str | None, newest: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """The range the user asked for, in whole UTC hours.

    ``first`` and ``last`` are ``YYYY-MM-DD`` (a whole day) or ``YYYY-MM-DDTHH[:MM:SS]``;
    missing, the range is the ``DEFAULT_DAYS`` days that end at ``newest`` (the newest
    hour with staged events), else at the hour before ``now``.

    :raises ValueError: for text that is neither, a reversed range, or one over a year
    """
    end = _parse_when(last, end=True) if last else (newest or _hour_floor(now) - partitions.HOUR)
    start = (
        _parse_when(first, end=False)
        if first
        else end - timedelta(days=DEFAULT_DAYS) + partitions.HOUR
    )
    if start > end:
        raise ValueError(
            f"the range starts ({start:%Y-%m-%dT%H}) after it ends ({end:%Y-%m-%dT%H})"
        )
    if (end - start) / partitions.HOUR + 1 > MAX_HOURS:
        raise ValueError(f"a range may hold at most {MAX_HOURS} hours (a year)")
    return start, end


def _hour_floor(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _parse_when(text: str, *, end: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(hours=23) if end else day
        if len(text) == 13:
            return datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        return _hour_floor(datetime.fromisoformat(text).replace(tzinfo=UTC))
    except ValueError:
        raise ValueError(f"{text!r} is neither YYYY-MM-DD nor YYYY-MM-DDTHH (UTC)") from None
