"""What starts staging, by ``SPARKIFY_INGEST``: the schedules of the two entry-point DAGs.

- ``detect_landing``: the hourly clock and its S3 sensor (``schedule`` and ``both``);
- ``route_notifications``: an ``AssetWatcher`` on the SQS queue the bucket notifies
  (``events`` and ``both``), through the common messaging provider's
  ``MessageQueueTrigger`` and the amazon provider's SQS support (``scheme="sqs"``).

A DAG whose entry point is off keeps its file and its id, unscheduled (``schedule=None``):
``detect_landing`` can still be run by hand, and no trigger polls a queue nobody wants.
Read when the DAG files are parsed (environment only, no file I/O).
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow.sdk import Asset, AssetWatcher, CronPartitionTimetable

from sparkify.pipeline import assets, settings
from sparkify.pipeline.dag_defaults import HOURLY

# SQS's largest batch; a batch arriving at once is one asset event, so one routing run.
MAX_MESSAGES = 10
# Long polling: a receive waits up to this long for a message and returns as one arrives.
WAIT_TIME_SECONDS = 20
# After a receive that found nothing, the trigger sleeps this long before the next one (the
# provider's default is 60 s, which would add up to a minute to every file's freshness).
WAITER_DELAY_SECONDS = 1


def detect_landing_schedule(environ: Mapping[str, str] | None = None):
    """``detect_landing``'s timetable: hourly (the hour that just ended), or None."""
    if settings.ingest_mode(environ) == "events":
        return None
    return CronPartitionTimetable(HOURLY, timezone="UTC", run_offset=-1)


def notifications_schedule(environ: Mapping[str, str] | None = None) -> list[Asset] | None:
    """``route_notifications``' schedule: the bucket notifications Asset, watched on the
    queue ``SPARKIFY_NOTIFICATIONS_QUEUE``; None when only the schedule stages."""
    if settings.ingest_mode(environ) == "schedule":
        return None
    return [assets.bucket_notifications(notifications_watcher(environ))]


def notifications_watcher(environ: Mapping[str, str] | None = None) -> AssetWatcher:
    """The watcher of the queue: each batch it receives (and deletes) is one asset event,
    the messages in its ``extra``."""
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    trigger = MessageQueueTrigger(
        scheme="sqs",
        sqs_queue=settings.notifications_queue_url(environ),
        aws_conn_id=settings.AWS_CONN_ID,
        max_messages=MAX_MESSAGES,
        wait_time_seconds=WAIT_TIME_SECONDS,
        waiter_delay=WAITER_DELAY_SECONDS,
    )
    return AssetWatcher(name="bucket_notifications_queue", trigger=trigger)
