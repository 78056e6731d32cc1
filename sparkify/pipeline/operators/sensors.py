"""Wait for an hour's objects, but never for an hour that is over and legitimately empty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

from sparkify.pipeline import partitions
from sparkify.pipeline.settings import AWS_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context


class HourPrefixSensor(S3KeySensor):
    """``S3KeySensor`` on the partition hour's prefix, with a grace period.

    Succeeds as soon as an object exists under the hour's prefix, or once the hour has ended
    and ``grace`` has passed with none: an empty hour is legitimate and must not hold up its
    partition (a backfill over past empty hours never waits). The hour's prefix is the one
    staging reads, from the settings at run time: ``<events_prefix>/YYYY/MM/DD/HH/``
    (``Settings.events_hour_pattern``).

    :param grace: how long after the hour ends objects may still land; defaults to settings
    """

    def __init__(
        self,
        *,
        grace: timedelta | None = None,
        aws_conn_id: str = AWS_CONN_ID,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("poke_interval", 60)
        kwargs.setdefault("timeout", 6 * 3600)
        # The key is the hour's prefix, known only when a poke has the settings and the hour.
        super().__init__(bucket_key="", wildcard_match=True, aws_conn_id=aws_conn_id, **kwargs)
        self.grace = grace

    def poke(self, context: Context) -> bool:
        from sparkify.pipeline import settings as settings_module

        settings = settings_module.current()
        hour = partitions.parse_key(context["dag_run"].partition_key)
        self.bucket_name = self.bucket_name or settings.bucket
        self.bucket_key = hour.strftime(settings.events_hour_pattern) + "*"
        if super().poke(context):
            return True
        grace = self.grace if self.grace is not None else timedelta(minutes=settings.grace_minutes)
        if now() >= hour + partitions.HOUR + grace:
            self.log.info(
                "No objects under %s and the hour is past its grace: empty hour", self.bucket_key
            )
            return True
        return False


def now() -> datetime:
    return datetime.now(UTC)
