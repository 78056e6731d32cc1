"""Waiting for partitions: which runs of which keys have finished, polled incrementally."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparkify.control.api import ApiClient

from sparkify.control.dags import ACTIVE, FINISHED, PAGE_LIMIT, PartitionWaitError, iso, parse_time
from sparkify.control.progress import ProgressBars

# A run's end_date is stamped before its transaction commits: look this far behind the
# newest end_date seen, so that a run committed late is not missed by an incremental poll.
_END_DATE_SLACK = timedelta(minutes=2)


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
        params["end_date_gte"] = iso(end_date_gte)
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
class DagProgress:
    """What one DAG's polls have found so far."""

    dag_id: str
    keys: frozenset[str]
    since: datetime | None
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id -> run
    active: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> run
    retrying: list[tuple[str, str]] = field(default_factory=list)  # (key, task_id)

    def poll(self, client: ApiClient) -> None:
        newest = max((parse_time(r["end_date"]) for r in self.finished.values()), default=None)
        floor = self.since
        if newest is not None:
            floor = max(floor, newest - _END_DATE_SLACK) if floor else newest - _END_DATE_SLACK
        for run in fetch_runs(client, self.dag_id, self.keys, states=FINISHED, end_date_gte=floor):
            if self.since is None or parse_time(run["end_date"]) >= self.since:
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
    tracked = [DagProgress(dag_id, keys, since) for dag_id in dag_ids]
    deadline = time.monotonic() + timeout
    with ProgressBars(progress, tracked, len(keys), console) as bars:
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


def _common_prefix(low: str, high: str) -> str:
    """The characters the least and the greatest key (so every key between) start with."""
    n = 0
    while n < min(len(low), len(high)) and low[n] == high[n]:
        n += 1
    return low[:n]


def fetch_runs_between(client: ApiClient, dag_id: str, low: str, high: str) -> list[dict[str, Any]]:
    """Every run of ``dag_id`` whose partition key is ``>= low`` and ``< high``, oldest
    first (by id): filtered on the server by the bounds' common prefix, cursor-paginated."""
    params: dict[str, Any] = {"order_by": "id", "limit": PAGE_LIMIT}
    if prefix := _common_prefix(low, high):
        params["partition_key_prefix_pattern"] = prefix
    runs, cursor = [], ""
    while cursor is not None:
        page = client.get(f"/dags/{dag_id}/dagRuns", cursor=cursor, **params)
        runs += [r for r in page["dag_runs"] if low <= (r.get("partition_key") or "") < high]
        cursor = page.get("next_cursor")
    return runs
