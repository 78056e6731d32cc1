"""The source side of staging: listing and streaming S3 objects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sparkify.pipeline.staging.lines import CHUNK


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One S3 object as listed: key, ETag (without quotes) and size."""

    key: str
    etag: str
    size: int


class S3Objects:
    """Lists and streams objects of one bucket through a boto3 S3 client."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def list(self, prefix: str, suffix: str = ".json") -> list[SourceObject]:
        """Every object under ``prefix`` whose key ends in ``suffix``, sorted by key."""
        found = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                if item["Key"].endswith(suffix):
                    found.append(
                        SourceObject(item["Key"], item["ETag"].strip('"'), int(item["Size"]))
                    )
        return sorted(found, key=lambda o: o.key)

    def chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes, streamed in chunks."""
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
