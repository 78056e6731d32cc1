"""The Assets that chain the DAGs, declared once; their URIs name the real tables."""

from __future__ import annotations

from airflow.sdk import Asset, AssetWatcher

# Objects have landed for a partition key (an hour, or a window of hours): what starts
# staging. Emitted by `detect_landing` (the hourly clock and its S3 sensor) and by anything
# else that learns of new objects (bucket notifications), always with the key of the hours.
landed = Asset(name="landed", uri="sparkify://source/log_data")
warehouse_schema = Asset(name="warehouse_schema", uri="sparkify://warehouse/schema")
staged_events = Asset(name="staged_events", uri="sparkify://warehouse/staging_events")
staged_songs = Asset(name="staged_songs", uri="sparkify://warehouse/staging_songs")
modeled = Asset(name="modeled", uri="sparkify://warehouse/songplays")
checked = Asset(name="checked", uri="sparkify://warehouse/check_results")


def bucket_notifications(*watchers: AssetWatcher) -> Asset:
    """The bucket's object notifications as they arrive on its SQS queue: an event a batch,
    the messages in its ``extra``. Made with its watcher by ``route_notifications`` only
    (``sparkify.pipeline.ingest``), so that no other DAG file needs the queue's URL."""
    return Asset(
        name="bucket_notifications", uri="sparkify://source/notifications", watchers=list(watchers)
    )
