"""End to end: a file that lands late in an hour already processed updates that hour's plays,
with no command, through the real scheduler.

An hour three hours back is run through the whole chain with one file in its prefix. Then a
second file lands in the same prefix and the test only watches: ``restage_late`` (every
minute on the test stack, ``SPARKIFY_LATE_CHECK_CRON``) finds the hour, stages it again and
emits its staging assets, and ``model`` and ``quality`` run again for that hour by
themselves. The hour's plays then hold both files' plays, once each.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import psycopg
import pytest

from sparkify.control import fetch_runs, trigger_and_wait
from sparkify.local.generate.dataset import generate
from sparkify.pipeline import partitions
from tests.e2e.chain import run_window

pytestmark = pytest.mark.e2e

EARLY_PLAYS = 20
LATE_PLAYS = 10
WAIT_S = 240  # a check a minute, then restage, model and quality


def plays_moved_to(source: Path, hour: datetime, count: int) -> list[str]:
    """``count`` generated NextSong events of identified users, their times moved into
    ``hour`` (minute and second kept); (sessionId, itemInSession) stay unique."""
    start_ms = int(hour.timestamp() * 1000)
    lines = []
    for path in sorted((source / "log_data").rglob("*.json")):
        for text in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(text)
            if event["page"] == "NextSong" and event["userId"]:
                event["ts"] = start_ms + event["ts"] % 3_600_000
                lines.append(json.dumps(event))
            if len(lines) == count:
                return lines
    raise AssertionError(f"the generated day has fewer than {count} plays")


def plays_in(dsn: str, hour: datetime) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT songplay_id) FROM songplays WHERE partition_hour = %s",
            (partitions.naive_utc(hour),),
        ).fetchone()


def finished_after(run: dict, moment: datetime) -> bool:
    end = run.get("end_date")
    return end is not None and datetime.fromisoformat(end.replace("Z", "+00:00")) > moment


@pytest.fixture(scope="module")
def late(live, tmp_path_factory):
    stack, client = live
    out = tmp_path_factory.mktemp("e2e-late")
    generate(out, start=date(2018, 11, 19), days=1, events_per_hour=60, seed=19)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    lines = plays_moved_to(out, hour, EARLY_PLAYS + LATE_PLAYS)
    env = stack.env()
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    prefix = partitions.events_prefix("log_data", hour)
    key = partitions.format_key(hour)

    assert trigger_and_wait(client, "setup")["state"] == "success"
    s3.put_object(
        Bucket=stack.bucket, Key=prefix + "early.json", Body="\n".join(lines[:EARLY_PLAYS])
    )
    run_window(client, [hour])
    before = plays_in(stack.warehouse_dsn(), hour)

    client.patch("/dags/restage_late", json={"is_paused": False})
    try:
        landed = datetime.now(UTC)
        s3.put_object(
            Bucket=stack.bucket, Key=prefix + "late.json", Body="\n".join(lines[EARLY_PLAYS:])
        )
        deadline = time.monotonic() + WAIT_S
        quality = []
        while time.monotonic() < deadline:
            runs = fetch_runs(client, "quality", [key], states=["success", "failed"])
            quality = [r for r in runs if finished_after(r, landed)]
            if quality:
                break
            time.sleep(2)
        waited = (datetime.now(UTC) - landed).total_seconds()
        print(f"late file landed; quality re-ran for {key} {waited:.0f}s later")
    finally:
        client.patch("/dags/restage_late", json={"is_paused": True})
    return {
        "stack": stack,
        "client": client,
        "hour": hour,
        "key": key,
        "landed": landed,
        "before": before,
        "after": plays_in(stack.warehouse_dsn(), hour),
        "quality": quality,
    }


def test_the_late_file_updates_the_hours_plays_by_itself(late) -> None:
    assert late["before"] == (EARLY_PLAYS, EARLY_PLAYS)
    assert late["after"] == (EARLY_PLAYS + LATE_PLAYS, EARLY_PLAYS + LATE_PLAYS)


def test_restage_model_and_quality_ran_again_for_that_hour(late) -> None:
    client, key, landed = late["client"], late["key"], late["landed"]
    assert [r["state"] for r in late["quality"]] == ["success"]
    model = [r for r in fetch_runs(client, "model", [key]) if finished_after(r, landed)]
    assert [(r["state"], r["run_type"]) for r in model] == [("success", "asset_triggered")]
    restaged = [
        run
        for run in client.get("/dags/restage_late/dagRuns", state=["success"], limit=100)[
            "dag_runs"
        ]
        if finished_after(run, landed)
        and client.get(f"/dags/restage_late/dagRuns/{run['dag_run_id']}/taskInstances")[
            "task_instances"
        ][0]["state"]
        == "success"  # not skipped: it found the late hour
    ]
    assert len(restaged) == 1


def test_the_hour_is_staged_from_both_objects(late) -> None:
    with psycopg.connect(late["stack"].warehouse_dsn()) as conn:
        staged = conn.execute(
            "SELECT objects, rows_read, rows_staged FROM staging_partitions "
            "WHERE dataset = 'events' AND partition_hour = %s",
            (partitions.naive_utc(late["hour"]),),
        ).fetchone()
        failed = conn.execute(
            "SELECT check_name, value FROM check_results WHERE NOT passed AND partition_hour = %s",
            (partitions.naive_utc(late["hour"]),),
        ).fetchall()
    assert staged == (2, EARLY_PLAYS + LATE_PLAYS, EARLY_PLAYS + LATE_PLAYS)
    assert failed == []
