"""``sparkify land``: put a data set in the original export layout into S3, hour by hour.

The export has one log file per UTC day under ``log_data/``; the pipeline reads hourly
prefixes, the layout Kinesis Firehose writes. Landing splits each daily file by the UTC
hour of every line's ``ts`` into ``<events_prefix>/YYYY/MM/DD/HH/<file name>``, lines
unchanged and in their original order, each ending in ``\\n``. A line whose time
cannot be read (not JSON, not an object, no usable ``ts``) is not dropped: it
goes, unchanged, to hour 00 of the file's day, where staging rejects it with a
reason. Blank lines are not records and are left out; an empty file lands
nothing. Song files keep their path below the export's ``song_data/``, under
``<songs_prefix>/``. Both prefixes are the pipeline's settings (``events_prefix``,
``songs_prefix``: ``config/<env>.toml``, ``SPARKIFY_EVENTS_PREFIX``,
``SPARKIFY_SONGS_PREFIX``), so what lands is where staging reads.

Landing is idempotent: an object whose MD5 matches what is already in the
bucket is not uploaded again. Each daily file is split through per-hour temp
files, so memory does not grow with the file.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec

from sparkify.pipeline import partitions
from sparkify.pipeline.timeparse import coerce_int, hour_of_ms

BOM = b"\xef\xbb\xbf"
# The export's folders, whatever the bucket's prefixes.
EXPORT_EVENTS = "log_data"
EXPORT_SONGS = "song_data"
DAY_FILE = re.compile(r"(\d{4})-(\d{2})-(\d{2})-events.*\.json")
# Single PUTs below this size, so an object's ETag is the MD5 of its bytes (S3's limit).
SINGLE_PUT_LIMIT = 5 * 1024**3
PUT_WORKERS = 10
# botocore asks for ``Expect: 100-continue`` on every PUT, a round trip before the body;
# below this size the body is sent with the headers (what the request risks is its own
# few bytes, sent again with a retry).
EXPECT_CONTINUE_FROM = 1024 * 1024
_MAX_OPEN_HOURS = 64  # a file whose lines scatter over many hours must not exhaust descriptors


class _TsOnly(msgspec.Struct):
    """Decodes just ``ts``; every other field is skipped without being built."""

    ts: Any = None


_decode_ts = msgspec.json.Decoder(_TsOnly).decode


def line_hour(line: bytes) -> datetime | None:
    """The UTC hour of a raw event line's ``ts``, or ``None`` when it cannot be read.

    Tolerates a leading byte-order mark and a trailing ``\\r``; reads ``ts`` as
    staging does (``timeparse.coerce_int``: int, integral float, integer text).
    """
    if line.startswith(BOM):
        line = line[len(BOM) :]
    try:
        ts = coerce_int(_decode_ts(line).ts)
    # ValidationError (not an object) is a DecodeError too; RecursionError: nested too deep.
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None
    if ts is None:
        return None
    try:
        return hour_of_ms(ts)
    except OverflowError:
        return None


def file_day(path: Path) -> date | None:
    """The day in a log file's name, ``YYYY-MM-DD-events*.json``, if it has one."""
    match = DAY_FILE.fullmatch(path.name)
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def event_key(events_prefix: str, hour: datetime, file_name: str) -> str:
    """``<events_prefix>/YYYY/MM/DD/HH/<file name>``, in the prefix staging reads."""
    return partitions.events_prefix(events_prefix, hour) + file_name


@dataclass
class HourPart:
    """One hour's lines of one source file, spooled to a temp file."""

    hour: datetime
    path: Path
    lines: int = 0
    size: int = 0
    md5: Any = field(default_factory=hashlib.md5)


@dataclass
class SplitResult:
    """What splitting one daily file found."""

    parts: list[HourPart]
    lines: int = 0
    blank: int = 0
    unreadable: int = 0


def split_by_hour(path: Path, day: date, workdir: Path) -> SplitResult:
    """Stream ``path`` into one temp file per UTC hour under ``workdir``.

    Lines keep their bytes (a BOM and a ``\\r`` included) and their order; each is
    written with a ``\\n``. Lines without a readable time go to hour 00 of ``day``.
    """
    fallback = datetime(day.year, day.month, day.day, tzinfo=UTC)
    parts: dict[datetime, HourPart] = {}
    handles: dict[datetime, Any] = {}
    result = SplitResult(parts=[])
    try:
        with path.open("rb") as source:
            for raw in source:
                line = raw[:-1] if raw.endswith(b"\n") else raw
                if not line.strip():
                    result.blank += 1
                    continue
                hour = line_hour(line)
                if hour is None:
                    hour, result.unreadable = fallback, result.unreadable + 1
                part = parts.get(hour)
                if part is None:
                    part = parts[hour] = HourPart(hour, workdir / f"{hour:%Y%m%d%H}-{path.name}")
                handle = handles.get(hour)
                if handle is None:
                    if len(handles) >= _MAX_OPEN_HOURS:
                        for open_handle in handles.values():
                            open_handle.close()
                        handles.clear()
                    handle = handles[hour] = part.path.open("ab")
                data = line + b"\n"
                handle.write(data)
                part.md5.update(data)
                part.lines += 1
                part.size += len(data)
                result.lines += 1
    finally:
        for handle in handles.values():
            handle.close()
    result.parts = sorted(parts.values(), key=lambda p: p.hour)
    return result


class LandingStopped(RuntimeError):
    """The caller asked the landing to stop (``land(stop=...)``)."""


_NO_EXPECT_ID = "sparkify-land-small-body-without-expect"


def _small_body_without_expect(request, **_kwargs) -> None:
    """Drop ``Expect: 100-continue`` from a PUT whose body is under
    ``EXPECT_CONTINUE_FROM``: thousands of song files, each a round trip shorter."""
    if "Expect" not in request.headers:
        return
    # aws-chunked bodies (HTTPS, a trailing checksum) say their size in a header of their own
    length = request.headers.get("Content-Length") or request.headers.get(
        "X-Amz-Decoded-Content-Length"
    )
    if length is None and isinstance(request.body, bytes | bytearray):
        length = len(request.body)
    if length is not None and int(length) < EXPECT_CONTINUE_FROM:
        del request.headers["Expect"]


class _Uploader:
    """Puts objects whose content differs from what the bucket holds; counts both."""

    def __init__(self, s3_client, bucket: str, stop: threading.Event | None = None) -> None:
        self.s3, self.bucket = s3_client, bucket
        self.uploaded = self.unchanged = self.bytes_uploaded = 0
        self._lock = threading.Lock()  # song uploads run in threads
        self._stop = stop
        s3_client.meta.events.register(
            "before-send.s3.PutObject", _small_body_without_expect, unique_id=_NO_EXPECT_ID
        )

    def check_stop(self) -> None:
        if self._stop is not None and self._stop.is_set():
            raise LandingStopped("landing stopped before it finished")

    def _is_current(self, key: str, md5_hex: str, listing: dict[str, str] | None) -> bool:
        """True when ``key`` already holds bytes with this MD5."""
        if listing is not None:
            etag = listing.get(key)
            if etag is None:
                return False  # the listing was complete: no such object
            if etag.strip('"') == md5_hex:
                return True
        from botocore.exceptions import ClientError

        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        # The ETag is the MD5 for single-part, unencrypted objects; our metadata always is.
        return head["ETag"].strip('"') == md5_hex or head.get("Metadata", {}).get("md5") == md5_hex

    def _count(self, uploaded: bool, size: int) -> bool:
        with self._lock:
            if uploaded:
                self.uploaded += 1
                self.bytes_uploaded += size
            else:
                self.unchanged += 1
        return uploaded

    def put_file(self, path: Path, key: str, md5_hex: str, size: int) -> bool:
        """Upload ``path`` unless the bucket has it; returns whether it was uploaded."""
        if self._is_current(key, md5_hex, None):
            return self._count(False, size)
        from boto3.s3.transfer import TransferConfig

        self.s3.upload_file(
            str(path),
            self.bucket,
            key,
            ExtraArgs={"Metadata": {"md5": md5_hex}, "ContentType": "application/json"},
            Config=TransferConfig(multipart_threshold=SINGLE_PUT_LIMIT),
        )
        return self._count(True, size)

    def put_bytes(self, data: bytes, key: str, listing: dict[str, str] | None = None) -> bool:
        """Upload ``data`` unless the bucket has it (``listing``: known ETags under a prefix)."""
        digest = hashlib.md5(data)
        if self._is_current(key, digest.hexdigest(), listing):
            return self._count(False, len(data))
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentMD5=base64.b64encode(digest.digest()).decode(),
            Metadata={"md5": digest.hexdigest()},
            ContentType="application/json",
        )
        return self._count(True, len(data))

    def listing(self, prefix: str) -> dict[str, str]:
        """ETags of every object under ``prefix``: one listing instead of a HEAD per song."""
        etags: dict[str, str] = {}
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                etags[obj["Key"]] = obj["ETag"]
        return etags


def log_files(
    source: Path, date_from: date | None, date_to: date | None
) -> tuple[list[tuple[Path, date]], list[Path]]:
    """Daily log files under ``source/log_data`` within the dates, and files without a day."""
    selected, unnamed = [], []
    for path in sorted((source / EXPORT_EVENTS).rglob("*.json")):
        day = file_day(path)
        if day is None:
            unnamed.append(path)
        elif (date_from is None or day >= date_from) and (date_to is None or day <= date_to):
            selected.append((path, day))
    return selected, unnamed


def land(
    source: Path,
    *,
    bucket: str,
    s3_client,
    date_from: date | None = None,
    date_to: date | None = None,
    progress: bool = False,
    stop: threading.Event | None = None,
    events_prefix: str | None = None,
    songs_prefix: str | None = None,
) -> dict:
    """Land the data set at ``source`` in ``bucket``; returns counts.

    :param source: a directory with ``log_data/`` and ``song_data/``
    :param s3_client: a boto3 S3 client
    :param date_from: first day of log files to land (inclusive; songs always all)
    :param date_to: last day of log files to land (inclusive)
    :param progress: show progress bars on stderr
    :param stop: when set, the landing raises ``LandingStopped`` before its next object
    :param events_prefix: the events' root in the bucket; default: the settings' (this
        process's environment, as ``sparkify.pipeline.settings.load`` reads it)
    :param songs_prefix: the songs' root in the bucket; default: the settings'
    """
    if events_prefix is None or songs_prefix is None:
        from sparkify.pipeline import settings

        configured = settings.load()
        events_prefix = configured.events_prefix if events_prefix is None else events_prefix
        songs_prefix = configured.songs_prefix if songs_prefix is None else songs_prefix
    songs_root = partitions.data_root(songs_prefix)
    source = Path(source)
    files, unnamed = log_files(source, date_from, date_to)
    songs = sorted((source / EXPORT_SONGS).rglob("*.json"))
    started = time.monotonic()
    uploader = _Uploader(s3_client, bucket, stop)
    report: dict[str, Any] = {
        "files": 0,
        "lines": 0,
        "blank_lines": 0,
        "lines_unreadable_time": 0,
        "objects": 0,
        "empty_files": [],
        "skipped_files": [p.relative_to(source).as_posix() for p in unnamed],
    }
    with _Progress(progress) as bars:
        events_bar = bars.add("log files (bytes)", sum(p.stat().st_size for p, _ in files))
        songs_bar = bars.add(f"{len(songs)} song files", sum(p.stat().st_size for p in songs))
        for path, day in files:
            _land_log_file(path, day, uploader, report, source, events_prefix)
            bars.advance(events_bar, path.stat().st_size)
        report["song_files"] = len(songs)
        listing = uploader.listing(songs_root) if songs else {}

        def put_song(path: Path) -> int:
            uploader.check_stop()
            data = path.read_bytes()
            uploader.put_bytes(data, song_key(songs_root, source, path), listing)
            return len(data)

        # Thousands of small PUTs: overlap their round trips, one thread per connection of
        # botocore's default pool (10): more threads than that open and drop a connection
        # for every request over.
        with ThreadPoolExecutor(max_workers=PUT_WORKERS) as pool:
            for size in pool.map(put_song, songs):
                bars.advance(songs_bar, size)
        report["objects"] += len(songs)
    report |= {
        "uploaded": uploader.uploaded,
        "unchanged": uploader.unchanged,
        "bytes_uploaded": uploader.bytes_uploaded,
        "seconds": round(time.monotonic() - started, 1),
    }
    return report


def song_key(songs_prefix: str, source: Path, path: Path) -> str:
    """The key of the export's song file ``path``: its path below ``source/song_data``,
    under ``<songs_prefix>/``."""
    below = path.relative_to(Path(source) / EXPORT_SONGS).as_posix()
    return partitions.data_root(songs_prefix) + below


def _land_log_file(
    path: Path, day: date, uploader: _Uploader, report: dict, source: Path, events_prefix: str
) -> None:
    report["files"] += 1
    with tempfile.TemporaryDirectory(prefix="sparkify-land-") as workdir:
        split = split_by_hour(path, day, Path(workdir))
        report["lines"] += split.lines
        report["blank_lines"] += split.blank
        report["lines_unreadable_time"] += split.unreadable
        if not split.parts:
            report["empty_files"].append(path.relative_to(source).as_posix())

        def put_part(part: HourPart) -> None:
            uploader.check_stop()
            key = event_key(events_prefix, part.hour, path.name)
            uploader.put_file(part.path, key, part.md5.hexdigest(), part.size)

        # A day's 24 hour objects in parallel too (a HEAD and a PUT each).
        with ThreadPoolExecutor(max_workers=PUT_WORKERS) as pool:
            list(pool.map(put_part, split.parts))
        report["objects"] += len(split.parts)


class _Progress:
    """Rich progress bars on stderr, or no-ops."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.__enter__()
        return self

    def add(self, description: str, total: int) -> int | None:
        return self._bar.add_task(description, total=total) if self._bar else None

    def advance(self, task: int | None, amount: int) -> None:
        if self._bar is not None and task is not None:
            self._bar.advance(task, amount)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
