"""The stack's SQS queue on the moto endpoint, and the bucket's notifications to it.

moto delivers S3 event notifications to SQS itself (``moto/s3/notifications.py``) when the
queue is in the bucket's region and account: both are moto's defaults here
(``AWS_REGION``, ``MOTO_ACCOUNT``). The bucket notifies the queue of every ``.json`` object
created under the events and songs prefixes (the pipeline's settings ``events_prefix`` and
``songs_prefix``), as the production setup does (docs/ingestion.md).
Nothing here starts a process; ``Stack.up`` calls ``ensure`` once the endpoint answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sparkify.local.stack.config import (
    AWS_REGION,
    FAKE_AWS_KEY,
    MOTO_ACCOUNT,
    QUEUE_NAME,
    queue_url,
)

if TYPE_CHECKING:
    from sparkify.pipeline.settings import Settings

# Long enough for a routing run to be created from a batch; messages are deleted when
# received, so this only matters to a consumer that fails between receiving and deleting.
VISIBILITY_TIMEOUT_S = 60


def queue_arn(queue: str = QUEUE_NAME) -> str:
    return f"arn:aws:sqs:{AWS_REGION}:{MOTO_ACCOUNT}:{queue}"


def data_prefixes(configured: Settings | None = None) -> tuple[str, str]:
    """The roots the pipeline reads, ``("log_data/", "song_data/")`` by default: the settings'
    ``events_prefix`` and ``songs_prefix`` (default: as this process's environment says)."""
    from sparkify.pipeline import partitions, settings

    configured = configured or settings.load()
    return partitions.data_root(configured.events_prefix), configured.songs_root


def notification_configuration(arn: str, prefixes: Sequence[str]) -> dict[str, Any]:
    """One queue configuration per prefix: object-created events of its ``.json`` objects."""
    return {
        "QueueConfigurations": [
            {
                "Id": "sparkify-" + re.sub(r"[^A-Za-z0-9]+", "-", prefix.strip("/")),
                "QueueArn": arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": prefix},
                            {"Name": "suffix", "Value": ".json"},
                        ]
                    }
                },
            }
            for prefix in prefixes
        ]
    }


def queue_policy(arn: str, bucket: str) -> str:
    """The policy that lets the bucket (and only it) send to the queue, as on AWS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "s3-notifications",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
                }
            ],
        }
    )


def clients(endpoint: str) -> tuple[Any, Any]:
    import boto3

    common = {
        "endpoint_url": endpoint,
        "aws_access_key_id": FAKE_AWS_KEY,
        "aws_secret_access_key": FAKE_AWS_KEY,
        "region_name": AWS_REGION,
    }
    return boto3.client("s3", **common), boto3.client("sqs", **common)


def ensure(
    endpoint: str,
    bucket: str,
    queue: str = QUEUE_NAME,
    *,
    prefixes: Sequence[str] | None = None,
) -> tuple[str, bool]:
    """Create the queue if missing and point the bucket's notifications at it if they do not
    already; ``(queue URL, whether the bucket's configuration was written)``. Writing it
    makes S3 send its test event, so an unchanged configuration is left alone.

    :param prefixes: the prefixes whose objects are notified; default ``data_prefixes()``
    """
    prefixes = data_prefixes() if prefixes is None else prefixes
    s3, sqs = clients(endpoint)
    url = sqs.create_queue(
        QueueName=queue,
        Attributes={
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT_S),
            "Policy": queue_policy(queue_arn(queue), bucket),
        },
    )["QueueUrl"]
    expected = queue_url(endpoint, queue)
    if url != expected:
        raise RuntimeError(f"moto named the queue {url}, not {expected}")
    wanted = notification_configuration(queue_arn(queue), prefixes)
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    if _queue_rules(current) == _queue_rules(wanted):
        return url, False
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=wanted)
    return url, True


def _queue_rules(config: dict[str, Any]) -> set[tuple]:
    rules = set()
    for queue in config.get("QueueConfigurations", ()):
        filters = queue.get("Filter", {}).get("Key", {}).get("FilterRules", ())
        rules.add(
            (
                queue["QueueArn"],
                tuple(sorted(queue["Events"])),
                tuple(sorted((f["Name"].lower(), f["Value"]) for f in filters)),
            )
        )
    return rules


@contextmanager
def suspended(endpoint: str, bucket: str) -> Iterator[None]:
    """The bucket notifies nobody inside: for landing history that is then backfilled.
    Its configuration is put back afterwards (S3 sends its test event again, ignored)."""
    s3, _sqs = clients(endpoint)
    saved = s3.get_bucket_notification_configuration(Bucket=bucket)
    saved.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        yield
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=saved)
