"""The source side of staging: listing and streaming S3 objects."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from sparkify.pipeline.staging.lines import CHUNK

# Song files are small and many: one GET each, overlapped so that round trips do not add up
# (15,000 files one by one took about 100 s against the local endpoint). 15,000 small GETs
# from the stack's moto, nothing else running: 211 a second with 8 threads, 256 with 16
# (the staging client's pool has as many connections, ``POOL_CONNECTIONS``).
FETCH_WORKERS = 16
POOL_CONNECTIONS = FETCH_WORKERS


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
        return sorted(self.iter(prefix, suffix), key=lambda o: o.key)

    def iter(self, prefix: str, suffix: str = ".json") -> Iterator[SourceObject]:
        """The objects under ``prefix`` whose key ends in ``suffix``, a listing page at a time
        (S3 lists in key order): a catalogue of a million files is never held whole."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                if item["Key"].endswith(suffix):
                    yield SourceObject(item["Key"], item["ETag"].strip('"'), int(item["Size"]))

    def head(self, key: str) -> SourceObject | None:
        """The object ``key`` as a listing would give it, or None when there is none."""
        from botocore.exceptions import ClientError

        try:
            item = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return SourceObject(key, item["ETag"].strip('"'), int(item["ContentLength"]))

    def chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes, streamed in chunks."""
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


@dataclass(frozen=True)
class Listing:
    """The objects under ``prefix``, listed anew (a page at a time) each time it is iterated.

    What ``stage_songs`` filters against the load ledger as the listing comes, so that a
    large catalogue is never held whole; re-iterable, so a retried attempt lists again.
    """

    source: Any
    prefix: str
    suffix: str = ".json"

    def __iter__(self) -> Iterator[SourceObject]:
        return iter(self.source.iter(self.prefix, self.suffix))


def announced(
    source: Any, keys: Iterable[str], prefix: str, suffix: str = ".json"
) -> list[SourceObject]:
    """The objects ``keys`` (announced by bucket notifications) as they are now, those under
    ``prefix`` and ending in ``suffix``; one HEAD each, overlapped, never a listing. A key
    that no longer exists is left out."""
    wanted = sorted({k for k in keys if k.startswith(prefix) and k.endswith(suffix)})
    with ThreadPoolExecutor(max_workers=FETCH_WORKERS, thread_name_prefix="head") as pool:
        return [obj for obj in pool.map(source.head, wanted) if obj is not None]


class ChunkSource(Protocol):
    def chunks(self, key: str) -> Iterable[bytes]: ...


def fetch_whole(
    source: ChunkSource,
    objects: Iterable[SourceObject],
    workers: int = FETCH_WORKERS,
    max_bytes: int | None = None,
) -> Iterator[tuple[SourceObject, bytes | None]]:
    """Each object with its whole content, in the order given, fetched ``workers`` at a time.

    At most ``2 * workers`` objects are fetched ahead of the one being consumed, so memory
    is bounded by that many objects, not by the number of objects. With ``max_bytes``, an
    object listed larger than that is not fetched at all (its content is ``None``), and no
    more than ``max_bytes + 1`` bytes of any object are read (an object that grew since it
    was listed stops there): memory is bounded by that many bytes an object.
    """

    def read(obj: SourceObject) -> bytes | None:
        if max_bytes is None:
            return b"".join(source.chunks(obj.key))
        if obj.size > max_bytes:
            return None
        parts, held = [], 0
        chunks = iter(source.chunks(obj.key))
        try:
            for chunk in chunks:
                parts.append(chunk[: max_bytes + 1 - held])
                held += len(parts[-1])
                if held > max_bytes:
                    break
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return b"".join(parts)

    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
        try:
            for obj in objects:
                pending.append((obj, pool.submit(read, obj)))
                if len(pending) >= 2 * workers:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _obj, future in pending:
                future.cancel()
