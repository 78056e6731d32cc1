"""What the end-to-end tests share: a clean warehouse and bucket, and a window run through
the whole chain by the real scheduler."""

from __future__ import annotations

import time
from datetime import datetime

import boto3
import psycopg

from sparkify.control import PIPELINE_DAGS, STAGING_DAGS, backfill, wait_for_partitions
from sparkify.control.api import ApiError

CHAIN_TIMEOUT_S = 420
WAREHOUSE_TABLES = (
    "staging_events", "staging_songs", "staging_rejects", "load_ledger", "staging_partitions",
    "songplays", "users", "songs", "artists", "time", "check_results",
    "song_picks", "unmatched_plays",
)  # fmt: skip


def empty_warehouse(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in WAREHOUSE_TABLES:
            if conn.execute("SELECT to_regclass(%s)", (f'public."{table}"',)).fetchone()[0]:
                conn.execute(f'TRUNCATE public."{table}"')


def empty_bucket(stack) -> None:
    env = stack.env()
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket):
        for item in page.get("Contents", ()):
            s3.delete_object(Bucket=stack.bucket, Key=item["Key"])


def mark_failed(client, dag_id: str, run_id: str, *, attempts: int = 5) -> None:
    """PATCH a run to ``failed``. The API answers 500 ("Database error") when its update
    meets the scheduler's own on the same run's rows in the metadata database; the run is
    read again and the PATCH repeated while it is still active."""
    path = f"/dags/{dag_id}/dagRuns/{run_id}"
    for attempt in range(1, attempts + 1):
        try:
            client.patch(path, json={"state": "failed"})
            return
        except ApiError as exc:
            if exc.status_code < 500 or attempt == attempts:
                raise
            time.sleep(2)
            if client.get(path)["state"] not in ("queued", "running"):
                return


def fail_leftover_runs(client, *, quiet_for: float = 6.0, timeout: float = 60.0) -> list[str]:
    """Mark failed the runs this test did not ask for, until none appear for ``quiet_for``.

    The earlier tiers run DAGs in-process (``dag.test()``) on the session's metadata
    database; the Asset events they emit stay queued, and the scheduler turns them into
    ``model`` and ``quality`` runs as soon as it starts. Those runs are not this test's:
    they would take ``model``'s ``max_active_runs`` slots, fail against a warehouse without
    tables and retry five minutes later. The current hour's scheduled runs are left alone.
    """
    failed: list[str] = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet_for and time.monotonic() < deadline:
        for dag_id in PIPELINE_DAGS:
            active = client.get(f"/dags/{dag_id}/dagRuns", state=["queued", "running"], limit=100)[
                "dag_runs"
            ]
            for run in active:
                if run["run_type"] == "scheduled":
                    continue
                mark_failed(client, dag_id, run["dag_run_id"])
                failed.append(f"{dag_id} {run['partition_key']}")
                quiet_since = time.monotonic()
        time.sleep(1)
    return failed


def run_window(
    client, hours: list[datetime], *, expect_success: bool = True, grain: str = "hour"
) -> tuple[datetime, float, dict[str, dict[str, dict]]]:
    """Backfill the staging DAGs over ``hours``, one run per window of ``grain``, and wait
    for the whole chain.

    Returns when it began, how long it took, and the latest run of each DAG per partition
    key. With ``expect_success`` every run must have succeeded.
    """
    began = time.monotonic()
    submissions = backfill(client, "all", hours[0], hours[-1], grain=grain)
    assert [s.dag_id for s in submissions] == list(STAGING_DAGS)
    since = min(s.since for s in submissions)
    keys = list(submissions[0].keys)
    latest = wait_for_partitions(
        client, PIPELINE_DAGS, keys, since=since, timeout=CHAIN_TIMEOUT_S, stop_on_retry=True
    )
    if expect_success:
        for dag_id, runs in latest.items():
            failed = sorted(k for k, run in runs.items() if run["state"] != "success")
            assert not failed, f"{dag_id} failed for {failed}"
    return since, time.monotonic() - began, latest
