"""Pure arithmetic on the REST API's run and task instance records (no stack needed).

Records are the dicts ``GET /api/v2/dags/{dag_id}/dagRuns[/{run_id}/taskInstances]``
returns: ISO timestamps (``start_date``, ``end_date``, ``queued_when``, ``scheduled_when``,
a run's ``queued_at``) or ``None``.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

Record = Mapping[str, Any]


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def _times(records: Iterable[Record], field: str) -> list[datetime]:
    return [t for r in records if (t := parse_time(r.get(field))) is not None]


def chain_latency(
    staging_tis: Iterable[Record],
    model_run: Record,
    model_tis: Iterable[Record],
    quality_run: Record,
    trigger_tasks: Collection[tuple[str, str]] = (),
) -> dict[str, float]:
    """How long after its staging the chain went on, for one partition.

    The reference is the end of the staging task that completed ``model``'s trigger: the
    latest ``end_date`` among the staging task instances that emit the Assets ``model``
    waits for (``trigger_tasks``: ``(dag_id, task_id)`` pairs; all of them when empty).
    From it: to ``model``'s run being created (``queued_at``), to its first task start (the
    earliest ``start_date`` of its task instances), and to the end of the partition's
    ``quality`` run. Raises ``ValueError`` when a time is missing.
    """
    staging_tis = list(staging_tis)
    triggers = [
        ti
        for ti in staging_tis
        if not trigger_tasks or (ti["dag_id"], ti["task_id"]) in trigger_tasks
    ]
    triggered = _times(triggers, "end_date")
    started = _times(model_tis, "start_date")
    created = parse_time(model_run.get("queued_at"))
    checked = parse_time(quality_run.get("end_date"))
    if not triggered or not started or created is None or checked is None:
        raise ValueError(
            "a staging end, the model run, a model start or the quality end is missing"
        )
    ref = max(triggered)
    return {
        "model_run_created_s": round(seconds(ref, created), 3),
        "model_start_latency_s": round(seconds(ref, min(started)), 3),
        "quality_end_latency_s": round(seconds(ref, checked), 3),
    }


def partitions_per_minute(partitions: int, elapsed_s: float) -> float:
    if elapsed_s <= 0:
        raise ValueError("elapsed time must be positive")
    return round(partitions * 60.0 / elapsed_s, 2)


def chain_elapsed(since: datetime, runs: Iterable[Record]) -> float:
    """Seconds from ``since`` (the backfill's submission) to the last run's end."""
    ends = _times(runs, "end_date")
    if not ends:
        raise ValueError("no run has ended")
    return seconds(since, max(ends))


def union_seconds(spans: Iterable[tuple[datetime, datetime]]) -> float:
    """Seconds in which at least one of the (start, end) spans was going on."""
    total, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += (end - start).total_seconds()
            reach = end
        elif end > reach:
            total += (end - reach).total_seconds()
            reach = end
    return total


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": round(statistics.median(values), 3),
        "mean": round(statistics.fmean(values), 3),
        "max": round(max(values), 3),
        "sum": round(sum(values), 1),
    }


def profile_tis(
    tis: Iterable[Record], upstream: Mapping[str, Iterable[str]], runs: Mapping[str, Record]
) -> dict[str, dict[str, float]]:
    """Where a DAG's time goes, summarised over its task instances.

    - ``ready_to_scheduled``: from the moment a task could run (its upstream tasks' latest
      end, or its run's start for a first task) to the scheduler setting it ``scheduled``;
    - ``scheduled_to_queued``: to the scheduler handing it to the executor;
    - ``queued_to_start``: to the task process reporting it running (executor pick-up and
      the task process starting);
    - ``duration``: running, start to end;
    - ``run_wall``: each run, start to end.

    :param upstream: task id -> its upstream task ids
    :param runs: run id -> run record (for a first task's start, and ``run_wall``)
    """
    tis = [ti for ti in tis if ti.get("state") in ("success", "skipped")]
    end_of = {(ti["dag_run_id"], ti["task_id"]): parse_time(ti.get("end_date")) for ti in tis}
    gaps: dict[str, list[float]] = {
        "ready_to_scheduled": [],
        "scheduled_to_queued": [],
        "queued_to_start": [],
        "duration": [],
    }
    for ti in tis:
        run_id = ti["dag_run_id"]
        ups = [end_of.get((run_id, u)) for u in upstream.get(ti["task_id"], ())]
        if ups and all(ups):
            ready = max(ups)
        else:
            ready = parse_time((runs.get(run_id) or {}).get("start_date")) if not ups else None
        scheduled, queued = parse_time(ti.get("scheduled_when")), parse_time(ti.get("queued_when"))
        start, end = parse_time(ti.get("start_date")), parse_time(ti.get("end_date"))
        for name, value in (
            ("ready_to_scheduled", seconds(ready, scheduled)),
            ("scheduled_to_queued", seconds(scheduled, queued)),
            ("queued_to_start", seconds(queued, start)),
            ("duration", seconds(start, end)),
        ):
            if value is not None:
                gaps[name].append(value)
    walls = [
        w
        for r in runs.values()
        if (w := seconds(parse_time(r.get("start_date")), parse_time(r.get("end_date"))))
        is not None
    ]
    return {**{k: _summary(v) for k, v in gaps.items()}, "run_wall": _summary(walls)}


def asset_hops(
    upstream_runs: Iterable[Mapping[str, Record]], downstream: Mapping[str, Record]
) -> dict[str, float]:
    """Per partition key, from the last upstream run's end (each mapping: key -> run) to the
    downstream run's start (its queue time counts: ``queued_at`` to ``start_date`` is the
    scheduler's, as is the time before it)."""
    hops = []
    upstream_runs = list(upstream_runs)
    for key, run in downstream.items():
        ends = [parse_time(runs[key].get("end_date")) for runs in upstream_runs if key in runs]
        start = parse_time(run.get("start_date"))
        if ends and all(ends) and start is not None:
            hops.append(seconds(max(ends), start))
    return _summary(hops)
