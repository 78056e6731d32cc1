"""``sparkify backfill``: run a range of hours again, in windows, through Airflow's REST API.

Every pipeline DAG but ``detect_landing`` is asset-scheduled (``PartitionedAssetTimetable``)
and takes any partition key on a manual run: one UTC hour (``2018-11-02T13:00:00``) or a
window of whole hours (``2018-11-02T00:00:00/2018-11-03T00:00:00``). A backfill cuts its
range into windows of a *grain*:

- ``hour``: one run per hour, as the live schedule makes them;
- ``day``: one run per UTC day (the range's first and last day may be partial);
- ``range``: one run for the whole range (at most ``partitions.MAX_WINDOW``).

and starts one run per window with ``POST /api/v2/dags/{dag_id}/dagRuns``. ``plan`` refuses,
before anything is sent, a range that starts before the DAGs' ``partitions.START_DATE``,
and, given a cap (the command line's: ``SPARKIFY_BACKFILL_MAX_DAYS``, default 366 days,
unless ``--allow-large-range``), a longer range: by ``--grain hour`` a year is already
8,784 runs of each DAG. ``--dag all``
(the default) starts both staging DAGs: ``model`` runs for a window once both have staged
it, and ``quality`` after it, carrying the same key. Inside a window every hour is staged
and recorded on its own, so the grain changes how many runs there are, not what the tables
hold; the DAGs are idempotent, so backfilling a range twice, or with another grain, leaves
every table as it was. (Airflow's own ``airflow backfill create`` still works for the
time-scheduled ``detect_landing``, which emits ``landed`` hour by hour.)

``wait_for_partitions`` polls ``GET /api/v2/dags/{dag_id}/dagRuns`` (filtered on the server
by partition-key prefix and state, cursor-paginated, and after the first poll only for runs
that finished since) until every key has a finished run, with a live progress bar per DAG.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sparkify.pipeline import partitions

if TYPE_CHECKING:
    from sparkify.control.api import ApiClient

from sparkify.control.dags import ASSET_DAGS, STAGING_DAGS, BackfillError, dag_info, parse_time
from sparkify.control.ranges import bounds, expand_dags, hour_range, spell

GRAINS = ("hour", "day", "range")
# The fewest runs, the fastest by far (docs/operations/backfill.md, grains); staging still
# commits hour by hour, so a failure costs the re-run of model and quality for the window,
# not of its staging.
DEFAULT_GRAIN = "range"
MAX_DAYS_ENV = "SPARKIFY_BACKFILL_MAX_DAYS"
# A year, a leap day included: a backfill of a whole year goes through, a typo in a year
# (2081 for 2018) does not.
DEFAULT_MAX_DAYS = 366
ALLOW_LARGE_OPTION = "--allow-large-range"


@dataclass(frozen=True)
class Submission:
    """What one DAG's backfill asked Airflow for: a run per key.

    ``since`` is the API server's time when the request was accepted: a run of a key that
    finished after it is that key's run for this backfill.
    """

    dag_id: str
    keys: tuple[str, ...]
    since: datetime
    run_ids: tuple[str, ...] = field(default=())  # the runs created, one per key


def windows_of(hours: Sequence[datetime], grain: str) -> list[partitions.Window]:
    """The consecutive ``hours`` cut into windows of ``grain`` (``GRAINS``): one per hour,
    one per UTC day, or (``range``) as few as a window's longest allows (92 days).

    :raises BackfillError: an unknown grain
    """
    if grain not in GRAINS:
        raise BackfillError(f"unknown grain {grain!r}; choose from {', '.join(GRAINS)}")
    if not hours:
        return []
    start, end = hours[0], hours[-1] + partitions.HOUR
    if grain == "hour":
        return [partitions.Window.of_hour(hour) for hour in hours]
    if grain == "day":
        return partitions.day_windows(start, end)
    return partitions.longest_windows(start, end)


def max_days_from(environ: Mapping[str, str]) -> int:
    """``SPARKIFY_BACKFILL_MAX_DAYS``: the longest range a backfill takes unasked, in days
    (default ``DEFAULT_MAX_DAYS``).

    :raises BackfillError: a value that is not a whole number of days, 1 or more, quoted
    """
    text = environ.get(MAX_DAYS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_DAYS
    if not text.isdigit() or int(text) < 1:
        raise BackfillError(f"{MAX_DAYS_ENV}={text!r} is not a number of days (1 or more)")
    return int(text)


def plan(
    first: date | datetime,
    last: date | datetime,
    grain: str = DEFAULT_GRAIN,
    *,
    max_days: int | None = None,
    now: datetime | None = None,
) -> list[partitions.Window]:
    """The windows a backfill of ``first`` .. ``last`` by ``grain`` starts a run for.

    :param max_days: refuse a range of more hours than this many days hold (``None``: no
        cap); every grain is bounded by it, ``hour`` to ``24 * max_days`` runs per DAG
    :raises BackfillError: quoting the range: it ends before it starts, starts before the
        DAGs' ``partitions.START_DATE``, has no hour that is over yet, or is longer than
        ``max_days`` (saying how many runs it would start); or an unknown grain
    """
    asked = f"{spell(first)} .. {spell(last)}"
    try:
        start, _stop = bounds(first, last)
        if start < partitions.START_DATE:  # before enumerating: 0001-01-01 is a typo too
            raise ValueError(
                f"the range {asked} starts before {partitions.START_DATE:%Y-%m-%d}, the DAGs' "
                "start date (the first hour of the data set): no run is made before it"
            )
        hours = hour_range(first, last, now=now)
    except ValueError as exc:
        raise BackfillError(str(exc)) from exc
    if not hours:
        raise BackfillError(f"no hour of the range {asked} is over yet: nothing to backfill")
    windows = windows_of(hours, grain)
    if max_days is not None and len(hours) > 24 * max_days:
        raise BackfillError(
            f"the range {asked} holds {len(hours):,} hours, more than {max_days} days "
            f"({MAX_DAYS_ENV}): by --grain {grain} it would start {len(windows):,} run(s) of "
            f"each DAG. Pass {ALLOW_LARGE_OPTION} if that is what you mean"
        )
    return windows


def backfill(
    client: ApiClient,
    dag_ids: str | Iterable[str],
    first: date | datetime,
    last: date | datetime,
    *,
    grain: str = DEFAULT_GRAIN,
    staging_dags: Sequence[str] = STAGING_DAGS,
    asset_dags: Sequence[str] = ASSET_DAGS,
) -> list[Submission]:
    """Start runs over every hour from ``first`` to ``last`` (inclusive) for ``dag_ids``,
    one run per window of ``grain``.

    :param dag_ids: names from ``PIPELINE_DAGS``, or ``all`` (the staging DAGs)
    :param first: first day (all its hours) or first hour (a ``datetime``), UTC
    :param last: last day or last hour, inclusive; hours not over yet are left out
    :param grain: ``hour``, ``day`` or ``range`` (default; ``windows_of``)
    :param staging_dags: the staging DAGs (what ``all`` means)
    :param asset_dags: the DAGs that follow them by their assets
    :returns: one ``Submission`` per DAG, to pass to ``wait_for_partitions``
    :raises BackfillError: a range ``plan`` refuses (no cap here: the caller's to set)
    """
    keys = [window.key for window in plan(first, last, grain)]
    dags = expand_dags(dag_ids, staging_dags=staging_dags, asset_dags=asset_dags)
    return [_trigger_partitions(client, dag_id, keys) for dag_id in dags]


def _trigger_partitions(client: ApiClient, dag_id: str, keys: Sequence[str]) -> Submission:
    """One manual run per partition key (an hour's or a window's)."""
    dag_info(client, dag_id)  # a clear error if the DAG is missing
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_ids, since = [], None
    for key in keys:
        # Not "backfill__...": Airflow reserves its run types' prefixes for those run types.
        # No "/" (a window's key has one): a run id is a segment of the API's paths.
        run_id = f"sparkify_backfill__{key.replace('/', '--')}__{stamp}"
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
        run_ids.append(run_id)
    return Submission(
        dag_id=dag_id,
        keys=tuple(keys),
        since=since or datetime.now(UTC),
        run_ids=tuple(run_ids),
    )
