"""Trigger latency: how long after an hour is staged ``model`` starts and ``quality`` ends.

On the running local stack (``airflow_stack``), one hour at a time and nothing else
running but the scheduler's own runs of the current hour: a manual run of ``stage_events``
and of ``stage_songs`` for the hour's partition key (as the hourly schedule would start
them), then the Asset chain does the rest. Per hour, from the task instance records of
the REST API: the end of the last task that emits a staging Asset (``announce``) to
``model``'s first task start, and to the end
of ``quality``'s run (``timing.chain_latency``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.timing import chain_latency, parse_time, profile_tis
from sparkify.control import PIPELINE_DAGS, STAGING_DAGS, wait_for_partitions
from sparkify.pipeline import partitions

FIRST_HOUR = datetime(2018, 11, 1, 10, tzinfo=UTC)  # hours with events in the generated day
HOURS = 5
TIMEOUT_S = 180.0
# The tasks that emit the Assets model waits for: the staging DAGs' announce tasks.
TRIGGER_TASKS = frozenset({("stage_events", "announce"), ("stage_songs", "announce")})


def task_instances(client, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    return client.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]


def upstream_of(client, dag_id: str) -> dict[str, list[str]]:
    tasks = client.get(f"/dags/{dag_id}/tasks")["tasks"]
    ups: dict[str, list[str]] = {t["task_id"]: [] for t in tasks}
    for t in tasks:
        for down in t.get("downstream_task_ids") or ():
            ups[down].append(t["task_id"])
    return ups


def one_hour(client, hour: datetime, tag: str) -> dict[str, Any]:
    """Stage ``hour`` through both staging DAGs; wait for the chain; its latencies."""
    key = partitions.format_key(hour)
    since = None
    run_ids = {}
    for dag_id in STAGING_DAGS:
        run = client.post(
            f"/dags/{dag_id}/dagRuns",
            json={"dag_run_id": f"bench_{tag}__{key}", "logical_date": None, "partition_key": key},
        )
        run_ids[dag_id] = run["dag_run_id"]
        since = since or parse_time(run["run_after"])
    latest = wait_for_partitions(
        client, PIPELINE_DAGS, [key], since=since, timeout=TIMEOUT_S, poll_interval=1.0
    )
    failed = [d for d, runs in latest.items() if runs[key]["state"] != "success"]
    if failed:
        raise RuntimeError(f"{key}: {', '.join(failed)} failed")
    tis = {d: task_instances(client, d, latest[d][key]["dag_run_id"]) for d in PIPELINE_DAGS}
    sample = chain_latency(
        [ti for d in STAGING_DAGS for ti in tis[d]],
        latest["model"][key],
        tis["model"],
        latest["quality"][key],
        TRIGGER_TASKS,
    )
    return {"key": key, **sample, "runs": latest, "tis": tis}


def run(
    client,
    *,
    hours: int = HOURS,
    first_hour: datetime = FIRST_HOUR,
    tag: str = "latency",
    echo: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    samples = []
    for n in range(hours):
        sample = one_hour(client, first_hour + timedelta(hours=n), tag)
        echo(
            f"  {sample['key']}: model run created {sample['model_run_created_s']:.2f}s, "
            f"first task started {sample['model_start_latency_s']:.2f}s, "
            f"quality ended {sample['quality_end_latency_s']:.2f}s after staging"
        )
        samples.append(sample)
        time.sleep(1)
    return summarise(client, samples)


def summarise(client, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    model = [s["model_start_latency_s"] for s in samples]
    quality = [s["quality_end_latency_s"] for s in samples]
    created = [s["model_run_created_s"] for s in samples]
    profile = {}
    for dag_id in PIPELINE_DAGS:
        runs = {
            s["runs"][dag_id][s["key"]]["dag_run_id"]: s["runs"][dag_id][s["key"]] for s in samples
        }
        tis = [ti for s in samples for ti in s["tis"][dag_id]]
        profile[dag_id] = profile_tis(tis, upstream_of(client, dag_id), runs)
    return {
        "model_start_latency_s": round(statistics.median(model), 2),
        "quality_end_latency_s": round(statistics.median(quality), 2),
        "latency_samples": {
            "partition_keys": [s["key"] for s in samples],
            "model_start_s": model,
            "quality_end_s": quality,
            "model_run_created_s": created,
        },
        "model_run_created_latency_s": round(statistics.median(created), 2),
        "latency_profile": profile,
    }
