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

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sparkify import partitions
from sparkify.cli import CliError

if TYPE_CHECKING:
    from sparkify.stack import Stack
    from sparkify.stack_api import ApiClient

STAGING_DAGS = ("stage_events", "stage_songs")
ASSET_DAGS = ("model", "quality")
PIPELINE_DAGS = (*STAGING_DAGS, *ASSET_DAGS)
DAG_CHOICES = (*PIPELINE_DAGS, "all")
# What a backfill of each choice sets running, i.e. what to wait for. Backfilling one
# staging DAG alone does not start ``model``: that needs both staged events for the hour.
WAIT_FOR = {
    "all": PIPELINE_DAGS,
    "stage_events": ("stage_events",),
    "stage_songs": ("stage_songs",),
    "model": ("model", "quality"),
    "quality": ("quality",),
}
REPROCESS_BEHAVIORS = ("completed", "failed", "none")  # airflow.models.backfill.ReprocessBehavior
FINISHED = ("success", "failed")
ACTIVE = ("queued", "running")
PAGE_LIMIT = 100  # the API server's default maximum_page_limit
# A run's end_date is stamped before its transaction commits: look this far behind the
# newest end_date seen, so that a run committed late is not missed by an incremental poll.
_END_DATE_SLACK = timedelta(minutes=2)
_WHEN = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2})(?::00(?::00)?)?)?(?:Z|\+00:00)?$")


class BackfillError(CliError):
    """A backfill could not be started, or did not finish."""


class PartitionWaitError(BackfillError):
    """Not every partition finished (in time, or without a retry); ``latest`` holds what did."""

    def __init__(self, message: str, latest: dict[str, dict[str, dict]]) -> None:
        super().__init__(message)
        self.latest = latest


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


# -- ranges --------------------------------------------------------------------------------
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


def _as_hour(when: date | datetime, *, end: bool) -> datetime:
    if isinstance(when, datetime):
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        if when.minute or when.second or when.microsecond:
            raise ValueError(f"{when.isoformat()} is not the start of an hour")
        return when
    start = datetime(when.year, when.month, when.day, tzinfo=UTC)
    return start + timedelta(hours=23) if end else start


def hour_range(
    first: date | datetime, last: date | datetime, *, now: datetime | None = None
) -> list[datetime]:
    """Every UTC hour from ``first`` to ``last``, both inclusive, that is over by ``now``.

    A ``date`` stands for all of its hours, a ``datetime`` for that one hour. Hours that
    have not ended yet are left out: their partitions cannot be complete.
    """
    start, stop = _as_hour(first, end=False), _as_hour(last, end=True)
    if start > stop:
        raise ValueError(
            f"the range starts ({start:%Y-%m-%dT%H}) after it ends ({stop:%Y-%m-%dT%H})"
        )
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


# -- the stack and its DAGs -----------------------------------------------------------------
def connect(stack: Stack | None = None) -> tuple[Stack, ApiClient]:
    """The stack of ``$SPARKIFY_HOME`` (else ``./.sparkify``) and a REST client for it;
    ``BackfillError`` when its Airflow is not up."""
    from sparkify.stack import Stack

    stack = stack or Stack()
    stack.config  # noqa: B018 -- raises StackError "No stack in ...: run sparkify stack up"
    down = [part for part in ("api-server", "scheduler") if stack.pid(part) is None]
    if down:
        raise BackfillError(
            f"the stack in {stack.state_dir} is not up ({', '.join(down)} not running): "
            "run `sparkify stack up` first"
        )
    return stack, stack.api_client()


def dag_info(client: ApiClient, dag_id: str) -> dict[str, Any]:
    """``GET /dags/{dag_id}``, with an error that says what to look at when it is missing."""
    from sparkify.stack_api import ApiError

    try:
        return client.get(f"/dags/{dag_id}")
    except ApiError as exc:
        if exc.status_code != 404:
            raise
    errors = client.get("/importErrors", limit=PAGE_LIMIT).get("import_errors", [])
    detail = "; ".join(f"{e['filename']}: {e['stack_trace'].strip()[-300:]}" for e in errors)
    raise BackfillError(
        f"DAG {dag_id} is not known to Airflow"
        + (f" (import errors: {detail})" if detail else " (not parsed yet?)")
    )


def wait_for_dags(client: ApiClient, dag_ids: Iterable[str], *, timeout: float = 120.0) -> None:
    """Wait until the dag-processor has parsed every DAG in ``dag_ids``."""
    deadline = time.monotonic() + timeout
    for dag_id in dag_ids:
        while True:
            try:
                dag_info(client, dag_id)
                break
            except BackfillError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)


def unpause(client: ApiClient, dag_ids: Iterable[str]) -> list[str]:
    """Unpause the paused DAGs among ``dag_ids``; returns those it unpaused."""
    changed = []
    for dag_id in dag_ids:
        if dag_info(client, dag_id)["is_paused"]:
            client.patch(f"/dags/{dag_id}", json={"is_paused": False}, update_mask="is_paused")
            changed.append(dag_id)
    return changed


def paused(client: ApiClient, dag_ids: Iterable[str]) -> list[str]:
    return [dag_id for dag_id in dag_ids if dag_info(client, dag_id)["is_paused"]]


# -- backfill ------------------------------------------------------------------------------
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
    from sparkify.stack_api import ApiError

    if max_active_runs is None:
        max_active_runs = int(dag_info(client, dag_id).get("max_active_runs") or 1)
    body = {
        "dag_id": dag_id,
        "from_date": _iso(hours[0]),
        "to_date": _iso(hours[-1]),  # inclusive: the partition tick equal to it is included
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
        since=_parse_time(created["created_at"]),
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
        since = since or _parse_time(run["run_after"])
        keys.append(key)
        run_ids.append(run_id)
    return Submission(
        dag_id=dag_id,
        keys=tuple(keys),
        since=since or datetime.now(UTC),
        run_ids=tuple(run_ids),
    )


def trigger_and_wait(
    client: ApiClient, dag_id: str, *, timeout: float = 300.0, poll_interval: float = 1.0
) -> dict[str, Any]:
    """Trigger an unpartitioned DAG (``setup``) and wait for the run to finish."""
    run = client.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
    deadline = time.monotonic() + timeout
    while run["state"] not in FINISHED:
        if time.monotonic() > deadline:
            raise BackfillError(f"{dag_id} run {run['dag_run_id']} not finished in {timeout:.0f}s")
        time.sleep(poll_interval)
        run = client.get(f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}")
    return run


# -- waiting ---------------------------------------------------------------------------------
def fetch_runs(
    client: ApiClient,
    dag_id: str,
    keys: Iterable[str],
    *,
    states: Sequence[str] | None = None,
    end_date_gte: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every run of ``dag_id`` for ``keys``: filtered on the server by the keys' common
    prefix (and by state and end date when given), cursor-paginated, then by key here.

    Not by ``partition_date``: runs created with ``POST .../dagRuns`` and a
    ``partition_key`` on a ``PartitionedAssetTimetable`` DAG, and the runs their Asset
    events trigger, have none (Airflow 3.3.2).
    """
    wanted = set(keys)
    if not wanted:
        return []
    params: dict[str, Any] = {"order_by": "id", "limit": PAGE_LIMIT}
    if prefix := _common_prefix(min(wanted), max(wanted)):
        params["partition_key_prefix_pattern"] = prefix
    if states:
        params["state"] = list(states)
    if end_date_gte is not None:
        params["end_date_gte"] = _iso(end_date_gte)
    runs, cursor = [], ""
    while cursor is not None:
        page = client.get(f"/dags/{dag_id}/dagRuns", cursor=cursor, **params)
        runs += [r for r in page["dag_runs"] if r.get("partition_key") in wanted]
        cursor = page.get("next_cursor")
    return runs


def latest_by_key(runs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest run of each partition key (by start, then queue time)."""
    latest: dict[str, dict[str, Any]] = {}
    for run in runs:
        key = run["partition_key"]
        if key not in latest or _run_order(run) >= _run_order(latest[key]):
            latest[key] = run
    return latest


def _run_order(run: dict[str, Any]) -> tuple[str, str, str]:
    return (run.get("start_date") or "9999", run.get("queued_at") or "", run["dag_run_id"])


def count_states(latest: dict[str, dict[str, Any]]) -> dict[str, int]:
    """``{"success": n, "failed": n}`` over the latest run of each key."""
    states = [run["state"] for run in latest.values()]
    return {state: states.count(state) for state in FINISHED}


@dataclass
class _DagProgress:
    """What one DAG's polls have found so far."""

    dag_id: str
    keys: frozenset[str]
    since: datetime | None
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id -> run
    active: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> run
    retrying: list[tuple[str, str]] = field(default_factory=list)  # (key, task_id)

    def poll(self, client: ApiClient) -> None:
        newest = max((_parse_time(r["end_date"]) for r in self.finished.values()), default=None)
        floor = self.since
        if newest is not None:
            floor = max(floor, newest - _END_DATE_SLACK) if floor else newest - _END_DATE_SLACK
        for run in fetch_runs(client, self.dag_id, self.keys, states=FINISHED, end_date_gte=floor):
            if self.since is None or _parse_time(run["end_date"]) >= self.since:
                self.finished[run["dag_run_id"]] = run
        active = fetch_runs(client, self.dag_id, self.keys, states=ACTIVE)
        for run in active:
            self.finished.pop(run["dag_run_id"], None)  # cleared and running again
        self.active = latest_by_key(active)
        self.retrying = self._retrying(client) if self.active else []

    def _retrying(self, client: ApiClient) -> list[tuple[str, str]]:
        """(key, task_id) of the active runs' tasks that failed and wait for a retry."""
        key_of = {run["dag_run_id"]: key for key, run in self.active.items()}
        page = client.get(
            f"/dags/{self.dag_id}/dagRuns/~/taskInstances", state="up_for_retry", limit=PAGE_LIMIT
        )
        return sorted(
            (key_of[ti["dag_run_id"]], ti["task_id"])
            for ti in page["task_instances"]
            if ti["dag_run_id"] in key_of
        )

    def latest(self) -> dict[str, dict[str, Any]]:
        """Key -> its latest finished run, for keys with no run still active."""
        done = latest_by_key(self.finished.values())
        return {key: run for key, run in done.items() if key not in self.active}

    def detail(self) -> str:
        latest = self.latest()
        states = [run["state"] for run in self.active.values()]
        parts = [
            f"{states.count('running')} running",
            f"{states.count('queued')} queued",
        ]
        failed = sum(1 for run in latest.values() if run["state"] == "failed")
        if failed:
            parts.append(f"[red]{failed} failed[/]")
        if self.retrying:
            parts.append(f"[yellow]{len(self.retrying)} task(s) up for retry[/]")
        return ", ".join(parts)


def wait_for_partitions(
    client: ApiClient,
    dag_ids: Iterable[str],
    keys: Iterable[str],
    *,
    timeout: float = 3600.0,
    progress: bool = False,
    since: datetime | None = None,
    poll_interval: float = 3.0,
    console: Any = None,
    stop_on_retry: bool = False,
    on_poll: Callable[[dict[str, dict[str, dict]]], None] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Wait until every partition key has a finished run in every DAG of ``dag_ids``.

    :param keys: partition keys, e.g. ``[s.keys for s in backfill(...)]`` flattened
    :param since: count only runs that finished at or after this time (a backfill's
        ``Submission.since``); ``None`` counts any run, however old
    :param progress: draw a live progress bar per DAG (rich, on stderr or ``console``)
    :returns: ``{dag_id: {key: latest run}}``; a key whose latest run is still active is
        not done, so each returned run is the one that decides the key's state
    :param stop_on_retry: raise ``PartitionWaitError`` as soon as a task of a tracked run
        failed and waits for a retry (tests: the DAGs retry 5 minutes later, 3 times)
    :param on_poll: called after each poll with what has finished so far
    :raises PartitionWaitError: after ``timeout`` seconds (or on a retry, see above), with
        what had finished
    """
    keys = frozenset(keys)
    tracked = [_DagProgress(dag_id, keys, since) for dag_id in dag_ids]
    deadline = time.monotonic() + timeout
    with _Bars(progress, tracked, len(keys), console) as bars:
        while True:
            for dag in tracked:
                dag.poll(client)
            latest = {dag.dag_id: dag.latest() for dag in tracked}
            bars.update(tracked)
            if on_poll is not None:
                on_poll(latest)
            if all(len(done) == len(keys) for done in latest.values()):
                return latest
            retrying = [f"{d.dag_id} {k} {t}" for d in tracked for k, t in d.retrying]
            if stop_on_retry and retrying:
                raise PartitionWaitError(
                    "task(s) failed and wait for a retry: " + ", ".join(retrying), latest
                )
            if time.monotonic() > deadline:
                missing = {
                    dag_id: len(keys) - len(done)
                    for dag_id, done in latest.items()
                    if len(done) < len(keys)
                }
                text = ", ".join(f"{dag_id} {n}" for dag_id, n in missing.items())
                raise PartitionWaitError(
                    f"not every partition finished within {timeout:.0f}s; unfinished: {text}",
                    latest,
                )
            time.sleep(poll_interval)


class _Bars:
    """One rich progress bar per DAG: partitions done out of all, and what is in flight."""

    def __init__(self, enabled: bool, tracked: list[_DagProgress], total: int, console) -> None:
        self.enabled, self.tracked, self.total, self.console = enabled, tracked, total, console
        self._progress = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _Bars:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description:<13}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("partitions"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"),
                console=self.console or Console(stderr=True),
            )
            self._progress.__enter__()
            for dag in self.tracked:
                self._tasks[dag.dag_id] = self._progress.add_task(
                    dag.dag_id, total=self.total, detail=""
                )
        return self

    def update(self, tracked: list[_DagProgress]) -> None:
        if self._progress is None:
            return
        for dag in tracked:
            self._progress.update(
                self._tasks[dag.dag_id], completed=len(dag.latest()), detail=dag.detail()
            )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def _common_prefix(low: str, high: str) -> str:
    """The characters the least and the greatest key (so every key between) start with."""
    n = 0
    while n < min(len(low), len(high)) and low[n] == high[n]:
        n += 1
    return low[:n]


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- command line ------------------------------------------------------------------------------
def register(subparsers) -> None:
    """Add the ``backfill`` subcommand."""
    p = subparsers.add_parser(
        "backfill",
        help="run every hour of a range of days again (REST API), and wait",
        description=(
            "Run every hour of a range again through Airflow's REST API: Airflow's own "
            "backfill for the staging DAGs, one run per partition key for model and quality."
        ),
    )
    p.add_argument(
        "--from", dest="first", type=when_arg, required=True,
        help="first day YYYY-MM-DD (or hour YYYY-MM-DDTHH), UTC",
    )  # fmt: skip
    p.add_argument(
        "--to", dest="last", type=when_arg, required=True,
        help="last day (or hour), inclusive",
    )  # fmt: skip
    p.add_argument(
        "--dag", choices=DAG_CHOICES, default="all",
        help="all (default) = both staging DAGs; model and quality follow by their assets",
    )  # fmt: skip
    p.add_argument(
        "--wait", action=argparse.BooleanOptionalAction, default=True,
        help="wait for every partition of the DAG and what follows it (default: --wait)",
    )  # fmt: skip
    p.add_argument(
        "--reprocess", choices=REPROCESS_BEHAVIORS, default="completed",
        help="staging DAGs: which hours that already ran to run again (default: completed = all)",
    )  # fmt: skip
    p.add_argument(
        "--max-active-runs", type=int, default=None,
        help="concurrent runs of each Airflow backfill (default: the DAG's max_active_runs)",
    )  # fmt: skip
    p.add_argument("--unpause", action="store_true", help="unpause the DAGs involved if paused")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (default 3600)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def when_arg(text: str) -> date | datetime:
    """argparse type for ``--from``/``--to``: a day or an hour (``parse_when``)."""
    try:
        return parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        hour_range(args.first, args.last)  # a bad range is reported before the stack is asked
    except ValueError as exc:
        raise BackfillError(str(exc)) from exc
    _stack, client = connect()
    with client:
        involved = WAIT_FOR[args.dag]
        if args.unpause:
            for dag_id in unpause(client, involved):
                print(f"unpaused {dag_id}", file=sys.stderr)
        elif stopped := paused(client, involved):
            raise BackfillError(
                f"paused: {', '.join(stopped)}; their runs would not start "
                "(pass --unpause, or unpause them in the UI)"
            )
        submissions = backfill(
            client,
            args.dag,
            args.first,
            args.last,
            max_active_runs=args.max_active_runs,
            reprocess_behavior=args.reprocess,
        )
        keys = submissions[0].keys
        for sub in submissions:
            how = (
                f"Airflow backfill {sub.backfill_id}"
                if sub.backfill_id is not None
                else f"{len(sub.run_ids)} runs triggered"
            )
            print(f"{sub.dag_id}: {len(sub.keys)} partitions, {keys[0]} .. {keys[-1]} ({how})")
        if not args.wait:
            return 0
        latest = wait_for_partitions(
            client,
            involved,
            keys,
            timeout=args.timeout,
            progress=not args.quiet and sys.stderr.isatty(),
            since=min(sub.since for sub in submissions),
        )
    failed = 0
    for dag_id, runs in latest.items():
        counts = count_states(runs)
        failed += counts["failed"]
        print(f"{dag_id}: {counts['success']} succeeded, {counts['failed']} failed")
    print(f"done in {time.monotonic() - started:.0f}s")
    return 1 if failed else 0
