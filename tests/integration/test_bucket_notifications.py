"""The stack's bucket notifications on the real S3 endpoint: moto delivers them to SQS, and
the router turns what arrives into the hours' keys."""

from __future__ import annotations

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
