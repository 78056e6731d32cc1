"""What starts staging (SPARKIFY_INGEST) and the watcher of the notifications queue."""

from __future__ import annotations

import pytest
from airflow.sdk import CronPartitionTimetable

from sparkify.pipeline import ingest, settings

QUEUE = "https://sqs.us-west-2.amazonaws.com/123456789012/sparkify-landing"


def test_the_default_is_both() -> None:
    assert settings.ingest_mode({}) == "both"
    assert settings.ingest_mode({"SPARKIFY_INGEST": " Events "}) == "events"


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(settings.SettingsError, match="SPARKIFY_INGEST must be one of"):
        settings.ingest_mode({"SPARKIFY_INGEST": "sometimes"})


@pytest.mark.parametrize(
    "url",
    [QUEUE, "http://127.0.0.1:4566/123456789012/sparkify-landing", f"{QUEUE}.fifo"],
)
def test_queue_urls_of_aws_and_of_a_local_endpoint(url: str) -> None:
    assert settings.notifications_queue_url({"SPARKIFY_NOTIFICATIONS_QUEUE": url}) == url


@pytest.mark.parametrize(
    "url",
    [
        "sparkify-landing",
        "arn:aws:sqs:us-west-2:123456789012:sparkify-landing",
        "https://sqs.us-west-2.amazonaws.com/sparkify-landing",
        f"{QUEUE}\nx",
    ],
)
def test_what_is_not_a_queue_url_is_refused(url: str) -> None:
    with pytest.raises(settings.SettingsError, match="is not an SQS queue URL"):
        settings.notifications_queue_url({"SPARKIFY_NOTIFICATIONS_QUEUE": url})


def test_events_without_a_queue_say_what_to_set() -> None:
    with pytest.raises(settings.SettingsError, match="SPARKIFY_NOTIFICATIONS_QUEUE is not set"):
        ingest.notifications_schedule({"SPARKIFY_INGEST": "both"})


@pytest.mark.parametrize(("mode", "hourly", "watched"), [
    ("both", True, True), ("schedule", True, False), ("events", False, True),
])  # fmt: skip
def test_each_mode_schedules_its_entry_points(mode: str, hourly: bool, watched: bool) -> None:
    environ = {"SPARKIFY_INGEST": mode, "SPARKIFY_NOTIFICATIONS_QUEUE": QUEUE}
    timetable = ingest.detect_landing_schedule(environ)
    assert isinstance(timetable, CronPartitionTimetable) is hourly
    assert (timetable is None) is not hourly
    schedule = ingest.notifications_schedule(environ)
    assert (schedule is not None) is watched


def test_the_watcher_polls_the_queue_through_the_sqs_trigger() -> None:
    environ = {"SPARKIFY_NOTIFICATIONS_QUEUE": QUEUE}
    (asset,) = ingest.notifications_schedule(environ)
    assert asset.name == "bucket_notifications"
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    # MessageQueueTrigger(scheme="sqs") serializes as the amazon provider's trigger.
    assert classpath == "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger"
    assert kwargs["sqs_queue"] == QUEUE
    assert kwargs["aws_conn_id"] == "aws_default"
    assert kwargs["max_messages"] == 10
    assert kwargs["delete_message_on_reception"] is True
    # Long polling, and no minute's sleep after an empty receive.
    assert kwargs["wait_time_seconds"] == 20
    assert kwargs["waiter_delay"] == 1
