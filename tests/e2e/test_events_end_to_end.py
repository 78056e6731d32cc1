"""End to end through bucket notifications: a file landed is staged, modeled and checked by
the real scheduler and triggerer with no command, and a notification delivered again loads
nothing twice.

A stack of this module's own (a fresh state directory, as ``test_celery.py`` has), brought
up as ``sparkify stack up`` is, with ``SPARKIFY_INGEST=both`` (the session's stack runs
``schedule``, so that its tests see only the runs they start): moto's S3 notifies the
stack's SQS queue, the triggerer's ``MessageQueueTrigger`` (``scheme="sqs"``) receives the
messages, ``route_notifications`` emits ``landed`` for the hours, and the staging DAGs,
``model`` and ``quality`` follow by their Assets. The test only lands objects and watches
(and, for the race of two batches during a busy route run, posts the watcher's two events
itself, to time them).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote_plus

import boto3
import psycopg
import pytest

from sparkify.control import PIPELINE_DAGS, fetch_runs, trigger_and_wait, unpause, wait_for_dags
from sparkify.local.generate.dataset import generate
from sparkify.local.stack.notifications import suspended
from sparkify.local.stack.postgres import PostgresError, find_bindir
from sparkify.local.stack.stack import Stack, StackError
from sparkify.pipeline import partitions
from tests.e2e.test_late_data_end_to_end import finished_after, plays_in, plays_moved_to

pytestmark = pytest.mark.e2e

UP_TIMEOUT_S = 300
WAIT_S = 240
PLAYS = 12
EVENTS_ENV = {"SPARKIFY_INGEST": "both", "SPARKIFY_RETRY_DELAY_SECONDS": "5"}


@pytest.fixture(scope="module")
def events_stack() -> Iterator[tuple[Stack, object]]:
    try:
        find_bindir()
    except (PostgresError, StackError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL: {exc}")
    # Not pytest's tmp_path: that is under a 0700 directory the postgres user cannot enter.
    state = Path(tempfile.mkdtemp(prefix="sparkify-events-test-"))
    state.chmod(0o755)
    stack = Stack(state, environ=EVENTS_ENV)
    try:
        started = time.monotonic()
        stack.up(timeout=UP_TIMEOUT_S)
        print(f"events stack up in {time.monotonic() - started:.1f}s")
        with stack.api_client() as client:
            wait_for_dags(client, ("setup", "route_notifications", *PIPELINE_DAGS))
            unpause(client, ("setup", "route_notifications", *PIPELINE_DAGS))
            assert trigger_and_wait(client, "setup")["state"] == "success"
            yield stack, client
    finally:
        try:
            stack.down()
        finally:
            shutil.rmtree(state, ignore_errors=True)


CHAIN = ("route_notifications", "detect_landing", "stage_events", "stage_songs", "model", "quality")


def wait_for(what: str, check, timeout: float = WAIT_S, client=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout:.0f}s" + chain_report(client))


def chain_report(client) -> str:
    """The chain's latest runs and the watcher's asset events: which link did not follow."""
    if client is None:
        return ""
    lines = ["", "latest runs (dag, partition key, state, run type, queued, end):"]
    for dag_id in CHAIN:
        for r in client.get(f"/dags/{dag_id}/dagRuns", order_by="-id", limit=6)["dag_runs"]:
            lines.append(
                f"  {dag_id} {r.get('partition_key')} {r['state']} {r['run_type']} "
                f"{r.get('queued_at')} {r.get('end_date')}"
            )
    for name in ("bucket_notifications", "landed"):
        for asset in client.get("/assets", name_pattern=name)["assets"]:
            events = client.get(
                "/assets/events", asset_id=asset["id"], order_by="-timestamp", limit=6
            )["asset_events"]
            lines.append(f"asset {asset['name']}: {len(events)} latest events")
            for e in events:
                lines.append(
                    f"  {e['timestamp']} key={e.get('partition_key')} "
                    f"from={e.get('source_dag_id')} extra={str(e.get('extra'))[:160]}"
                )
    return "\n".join(lines)


def finished_since(client, dag_id: str, key: str, since: datetime) -> list[dict]:
    runs = fetch_runs(client, dag_id, [key], states=["success", "failed"])
    return [r for r in runs if finished_after(r, since)]


def route_runs_since(client, since: datetime) -> list[dict]:
    runs = client.get("/dags/route_notifications/dagRuns", order_by="-id", limit=50)["dag_runs"]
    return [r for r in runs if finished_after(r, since)]


def ledger(dsn: str, key: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT source_key, etag, partition_hour, rows_staged, loaded_at FROM load_ledger "
            "WHERE source_key = %s",
            (key,),
        ).fetchall()


def staged_rows(dsn: str, hour: datetime) -> tuple:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT (SELECT COUNT(*) FROM staging_events WHERE partition_hour = %(h)s), "
            "(SELECT objects || '/' || rows_read || '/' || rows_staged FROM staging_partitions "
            " WHERE dataset = 'events' AND partition_hour = %(h)s)",
            {"h": partitions.naive_utc(hour)},
        ).fetchone()


@pytest.fixture(scope="module")
def landed(events_stack, tmp_path_factory):
    """One object landed in the prefix of an hour three hours back, then left alone."""
    stack, client = events_stack
    out = tmp_path_factory.mktemp("e2e-events")
    generate(out, start=date(2018, 11, 20), days=1, events_per_hour=60, seed=20)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    object_key = partitions.events_prefix("log_data", hour) + "notified.json"
    key = partitions.format_key(hour)
    s3 = boto3.client("s3", endpoint_url=stack.env()["AWS_ENDPOINT_URL"])
    put_at = datetime.now(UTC)
    s3.put_object(
        Bucket=stack.bucket, Key=object_key, Body="\n".join(plays_moved_to(out, hour, PLAYS))
    )
    quality = wait_for(
        f"quality for {key}", lambda: finished_since(client, "quality", key, put_at), client=client
    )
    freshness = (
        datetime.fromisoformat(quality[0]["end_date"].replace("Z", "+00:00")) - put_at
    ).total_seconds()
    print(f"{object_key}: landed, staged, modeled and checked {freshness:.1f}s later")
    return {"stack": stack, "client": client, "hour": hour, "key": key, "object": object_key,
            "put_at": put_at, "quality": quality, "s3": s3, "source": out}  # fmt: skip


def test_an_object_landed_in_a_past_hour_is_staged_with_no_command(landed) -> None:
    client, key, put_at = landed["client"], landed["key"], landed["put_at"]
    assert [r["state"] for r in landed["quality"]] == ["success"]
    for dag_id in ("stage_events", "stage_songs", "model"):
        runs = finished_since(client, dag_id, key, put_at)
        assert [(r["state"], r["run_type"]) for r in runs] == [("success", "asset_triggered")], (
            dag_id
        )
    routed = [r for r in route_runs_since(client, put_at) if r["state"] == "success"]
    assert routed, "route_notifications did not run for the object"
    assert all(r["run_type"] == "asset_triggered" for r in routed)
    assert plays_in(landed["stack"].warehouse_dsn(), landed["hour"]) == (PLAYS, PLAYS)
    assert staged_rows(landed["stack"].warehouse_dsn(), landed["hour"]) == (
        PLAYS,
        f"1/{PLAYS}/{PLAYS}",
    )


def notification_bodies(client, object_key: str) -> list[str]:
    """The bodies of the messages that announced ``object_key``, as the watcher's asset
    events keep them."""
    (asset,) = client.get("/assets", name_pattern="bucket_notifications")["assets"]
    events = client.get("/assets/events", asset_id=asset["id"], order_by="-timestamp", limit=100)
    bodies = []
    for event in events["asset_events"]:
        for message in ((event.get("extra") or {}).get("payload") or {}).get("message_batch", []):
            body = message.get("Body", "")
            if quote_plus(object_key) in body:  # S3 sends keys URL-encoded
                bodies.append(body)
    return bodies


def test_a_redelivered_notification_loads_nothing_twice(landed) -> None:
    stack, client, key, hour = landed["stack"], landed["client"], landed["key"], landed["hour"]
    dsn = stack.warehouse_dsn()
    before = (ledger(dsn, landed["object"]), staged_rows(dsn, hour), plays_in(dsn, hour))
    (body,) = notification_bodies(client, landed["object"])
    sqs = boto3.client("sqs", endpoint_url=stack.env()["AWS_ENDPOINT_URL"])
    again = datetime.now(UTC)
    # SQS delivers at least once: the very message again, as a redelivery would.
    sqs.send_message(QueueUrl=stack.env()["SPARKIFY_NOTIFICATIONS_QUEUE"], MessageBody=body)
    quality = wait_for(
        f"quality for {key} after the redelivery",
        lambda: finished_since(client, "quality", key, again),
        client=client,
    )
    assert [r["state"] for r in quality] == ["success"]
    staged = finished_since(client, "stage_events", key, again)
    assert [(r["state"], r["run_type"]) for r in staged] == [("success", "asset_triggered")]
    after = (ledger(dsn, landed["object"]), staged_rows(dsn, hour), plays_in(dsn, hour))
    # The ledger knew the object (same key and ETag): not reloaded, loaded_at unchanged.
    assert after == before
    assert len(after[0]) == 1


def land_plays(landed, hour: datetime, name: str, nth: int) -> str:
    """The ``nth`` ``PLAYS`` generated plays, moved into ``hour``: plays of their own (the
    fixture's object has the first), since plays of one session and item are one play."""
    key = partitions.events_prefix("log_data", hour) + name
    body = "\n".join(plays_moved_to(landed["source"], hour, PLAYS * (nth + 1))[PLAYS * nth :])
    landed["s3"].put_object(Bucket=landed["stack"].bucket, Key=key, Body=body)
    return key


def watcher_batch(bucket: str, key: str) -> dict:
    """An asset event's ``extra`` as the watcher makes it: one batch of one S3 message."""
    body = json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventTime": datetime.now(UTC).isoformat(),
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key)}},
                }
            ]
        }
    )
    message = {"MessageId": f"busy-{key}", "ReceiptHandle": "r", "Body": body}
    return {"from_trigger": True, "payload": {"status": "success", "message_batch": [message]}}


def busy_attempt(landed, hours: tuple[datetime, datetime, datetime], attempt: int) -> bool:
    """One object landed as usual; while the route run it starts is busy, two more batches
    (of two objects landed unannounced) arrive as the watcher's events would. Waits until
    all three hours are checked; True when both batches really arrived during that run
    (the race arranged), False when the timing did not hold."""
    stack, client = landed["stack"], landed["client"]
    nth = 1 + 3 * attempt
    with suspended(stack.env()["AWS_ENDPOINT_URL"], stack.bucket):
        later = [land_plays(landed, h, "busy.json", nth + n) for n, h in enumerate(hours[1:], 1)]
    # Restoring the configuration sent S3's test event: let its route run pass first.
    wait_for("the test event's route run", lambda: not route_run_active(client))
    started = datetime.now(UTC)
    land_plays(landed, hours[0], "busy.json", nth)
    busy = wait_for("a route run for the first object", lambda: route_run_active(client, started))
    (asset,) = client.get("/assets", name_pattern="bucket_notifications")["assets"]
    posted = [
        client.post(
            "/assets/events", {"asset_id": asset["id"], "extra": watcher_batch(stack.bucket, key)}
        )
        for key in later
    ]
    for hour in hours:
        key = partitions.format_key(hour)
        quality = wait_for(
            f"quality for {key}",
            lambda key=key: finished_since(client, "quality", key, started),
            client=client,
        )
        assert [r["state"] for r in quality] == ["success"], key + chain_report(client)
        assert plays_in(stack.warehouse_dsn(), hour) == (PLAYS, PLAYS), key + chain_report(client)
    ended = client.get(f"/dags/route_notifications/dagRuns/{busy['dag_run_id']}")["end_date"]
    return all(moment(event["timestamp"]) < moment(ended) for event in posted)


def route_run_active(client, queued_after: datetime | None = None) -> dict | None:
    """A queued or running ``route_notifications`` run (queued after ``queued_after``)."""
    runs = client.get("/dags/route_notifications/dagRuns", order_by="-id", limit=5)["dag_runs"]
    for run in runs:
        if run["state"] in ("queued", "running") and (
            queued_after is None or moment(run["queued_at"]) > queued_after
        ):
            return run
    return None


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_notifications_that_arrive_while_a_route_run_is_busy_are_all_routed(landed) -> None:
    """Two batches delivered while a ``route_notifications`` run is busy: Airflow 3.3.2 queues
    the DAG once for both (one ``asset_dag_run_queue`` row per asset and DAG, created at the
    first), and the next run's window ends at that row's time, so it consumes only the first
    batch. The second batch's hour must be staged all the same."""
    base = landed["hour"]
    for attempt in range(3):
        hours = tuple(base - timedelta(hours=3 * attempt + n) for n in (1, 2, 3))
        if busy_attempt(landed, hours, attempt):
            return
        print(f"attempt {attempt + 1}: the two batches did not both arrive during the run")
    pytest.fail("could not deliver two batches while a route run was busy, in 3 attempts")
