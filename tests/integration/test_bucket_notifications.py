"""The stack's bucket notifications on the real S3 endpoint: moto delivers them to SQS, and
the router turns what arrives into the hours' keys."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime

import boto3
import pytest

from sparkify.local.stack import notifications
from sparkify.pipeline.notifications import Router

pytestmark = pytest.mark.integration


@pytest.fixture
def notified(stack, bucket):
    """The test's bucket notifying a queue of its own, as ``sparkify stack up`` sets it."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    queue = f"t-{uuid.uuid4().hex[:12]}"
    url, configured = notifications.ensure(endpoint, bucket, queue)
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    yield bucket, url, configured, sqs
    sqs.delete_queue(QueueUrl=url)


def receive_all(sqs, url: str) -> list[dict]:
    messages = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages"
    ):
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    return messages


def test_configuring_is_idempotent_and_sends_one_test_event(notified) -> None:
    bucket, url, configured, sqs = notified
    assert configured
    assert notifications.ensure(os.environ["AWS_ENDPOINT_URL"], bucket, url.rsplit("/", 1)[1]) == (
        url,
        False,
    )
    routing = Router(bucket=bucket, events_prefix="log_data", songs_prefix="song_data").route(
        receive_all(sqs, url), now=datetime.now(UTC)
    )
    assert routing.test_events == 1
    assert routing.keys == []


def test_objects_landed_reach_the_queue_as_their_hours(notified, s3) -> None:
    bucket, url, _configured, sqs = notified
    for key in (
        "log_data/2018/11/13/05/a.json",
        "log_data/2018/11/13/05/with space.json",
        "log_data/2018/11/13/06/b.json",
        "song_data/A/B/C/TRABCXX128F424C983.json",
        "log_data/2018/11/13/05/notes.txt",  # not .json: not notified
        "_manifests/events/2018/11/13/05.manifest",  # outside both prefixes: not notified
    ):
        s3.put_object(Bucket=bucket, Key=key, Body=b"{}\n")
    messages = receive_all(sqs, url)
    routing = Router(bucket=bucket, events_prefix="log_data", songs_prefix="song_data").route(
        messages, now=datetime.now(UTC)
    )
    assert routing.test_events == 1
    assert routing.unreadable == []
    assert routing.ignored == []
    assert routing.keys == ["2018-11-13T05:00:00", "2018-11-13T06:00:00"]
    assert sorted(routing.events["2018-11-13T05:00:00"]) == [
        "log_data/2018/11/13/05/a.json",
        "log_data/2018/11/13/05/with space.json",
    ]
    assert routing.songs == ["song_data/A/B/C/TRABCXX128F424C983.json"]


def test_the_queue_is_in_the_buckets_region(notified, s3) -> None:
    bucket, url, _configured, sqs = notified
    region = s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] or "us-east-1"
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert arn.split(":")[3] == region
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert {q["QueueArn"] for q in config["QueueConfigurations"]} == {arn}


def test_suspended_notifications_announce_nothing_and_come_back(notified, s3) -> None:
    bucket, url, _configured, sqs = notified
    receive_all(sqs, url)  # the test event of the configuration
    before = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    with notifications.suspended(os.environ["AWS_ENDPOINT_URL"], bucket):
        s3.put_object(Bucket=bucket, Key="log_data/2018/11/13/05/history.json", Body=b"{}\n")
    s3.put_object(Bucket=bucket, Key="log_data/2018/11/13/07/live.json", Body=b"{}\n")
    routing = Router(bucket=bucket, events_prefix="log_data", songs_prefix="song_data").route(
        receive_all(sqs, url), now=datetime.now(UTC)
    )
    assert routing.keys == ["2018-11-13T07:00:00"]
    assert routing.test_events == 1  # the configuration put back
    after = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert after == before


# -- at least once, exactly once in effect ---------------------------------------------------
HOUR_KEY = "2018-11-13T05:00:00"
EVENT_KEY = "log_data/2018/11/13/05/2018-11-13-events.json"


def event_lines(n: int) -> bytes:
    base = int(datetime(2018, 11, 13, 5, tzinfo=UTC).timestamp() * 1000)
    lines = [
        json.dumps(
            {
                "artist": None, "auth": "Logged In", "firstName": "A", "gender": "F",
                "itemInSession": i, "lastName": "B", "length": None, "level": "free",
                "location": "X", "method": "GET", "page": "Home", "registration": 1.0,
                "sessionId": 77, "song": None, "status": 200, "ts": base + i,
                "userAgent": "Mozilla", "userId": "7",
            }
        )
        for i in range(n)
    ]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def stage_hour(conn, s3, bucket: str, key: str) -> None:
    """What a staging run for ``key`` does, through the project's own staging function
    (not ``dag.test()``: this module runs before the fault tests restart the server, and
    Airflow's metadata connections must not be opened here)."""
    from sparkify.pipeline import partitions
    from sparkify.pipeline.staging import postgres
    from sparkify.pipeline.staging.objects import S3Objects

    hour = partitions.parse_key(key)
    source = S3Objects(s3, bucket)
    postgres.stage_events(
        conn, source, source.list(partitions.events_prefix("log_data", hour)), hour
    )


def hour_state(conn) -> tuple:
    rows = conn.execute("SELECT COUNT(*) FROM staging_events").fetchone()[0]
    ledger = conn.execute(
        "SELECT source_key, etag, loaded_at FROM load_ledger WHERE dataset = 'events'"
    ).fetchall()
    return rows, ledger


def test_an_object_notified_twice_in_two_messages_stages_once(notified, s3, schema_ready) -> None:
    bucket, url, _configured, sqs = notified
    receive_all(sqs, url)  # the test event
    body = event_lines(5)
    s3.put_object(Bucket=bucket, Key=EVENT_KEY, Body=body)
    s3.put_object(Bucket=bucket, Key=EVENT_KEY, Body=body)  # the same bytes again
    messages = receive_all(sqs, url)
    assert len(messages) == 2
    assert messages[0]["MessageId"] != messages[1]["MessageId"]
    routing = Router(bucket=bucket, events_prefix="log_data", songs_prefix="song_data").route(
        messages, now=datetime.now(UTC)
    )
    assert routing.keys == [HOUR_KEY]  # one staging run for both
    for key in routing.keys:
        stage_hour(schema_ready, s3, bucket, key)
    assert hour_state(schema_ready)[0] == 5
    # Had the two messages come in two batches (two runs), the second changes nothing.
    before = hour_state(schema_ready)
    stage_hour(schema_ready, s3, bucket, HOUR_KEY)
    assert hour_state(schema_ready) == before


def test_a_notification_for_an_hour_the_schedule_staged_loads_nothing(
    notified, s3, schema_ready
) -> None:
    bucket, url, _configured, sqs = notified
    receive_all(sqs, url)
    s3.put_object(Bucket=bucket, Key=EVENT_KEY, Body=event_lines(4))
    stage_hour(schema_ready, s3, bucket, HOUR_KEY)  # the schedule's run got there first
    staged = hour_state(schema_ready)
    assert staged[0] == 4
    routing = Router(bucket=bucket, events_prefix="log_data", songs_prefix="song_data").route(
        receive_all(sqs, url), now=datetime.now(UTC)
    )
    assert routing.keys == [HOUR_KEY]
    stage_hour(schema_ready, s3, bucket, HOUR_KEY)  # the notification's run, late
    assert hour_state(schema_ready) == staged  # same rows, same ledger row, not reloaded
