"""Bucket notifications to partition keys: which hours a batch of SQS messages asks to stage.

A message body is one of:

- an S3 event notification (``{"Records": [{"eventSource": "aws:s3", "eventName":
  "ObjectCreated:Put", "s3": {"bucket": {"name": ...}, "object": {"key": ...}}}]}``),
  object keys URL-encoded as S3 sends them;
- the same inside an SNS envelope (``{"Type": "Notification", "Message": "<json>"}``), for a
  bucket that notifies a topic the queue subscribes to;
- an EventBridge event (``{"source": "aws.s3", "detail-type": "Object Created", "detail":
  {"bucket": {"name": ...}, "object": {"key": ...}}}``), keys not encoded;
- S3's test event (``{"Event": "s3:TestEvent"}``), sent when a notification is configured:
  counted and ignored.

Anything else cannot be understood: it is reported (with its body) and dropped, never
raised, so one bad message never holds up the others. Events objects name their hour by
their prefix, the one staging reads (``<events_prefix>/YYYY/MM/DD/HH/``,
``partitions.events_hour``); several objects of one hour give one key. Song
files carry no event time: they need a key only when the batch has no events hour (every
staging run loads all new song files), and then take the hour S3 saw the first of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from sparkify.pipeline import partitions

# How much of an unreadable message's body is kept for the log.
BODY_LIMIT = 2048
# The largest body read: SQS's largest message (1 MiB), whatever the queue allows.
MAX_BODY = 1024 * 1024
MAX_KEY_BYTES = 1024  # S3's longest key
_CREATED_S3 = "ObjectCreated:"
_CREATED_EVENTBRIDGE = "Object Created"
_TEST_EVENT = "s3:TestEvent"


class NotificationError(ValueError):
    """A message that is not a notification this pipeline understands."""


@dataclass(frozen=True, slots=True)
class ObjectNotice:
    """One object that a notification announces."""

    bucket: str
    key: str
    event: str  # ObjectCreated:Put, or EventBridge's "Object Created"
    time: datetime | None  # when S3 saw it, if the notification says

    @property
    def created(self) -> bool:
        return self.event.startswith(_CREATED_S3) or self.event == _CREATED_EVENTBRIDGE


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message that was dropped: its id, why, and (the start of) its body."""

    message_id: str
    reason: str
    body: str


@dataclass
class Routing:
    """What a batch of messages asks for: ``keys`` to emit on ``landed``, and the rest."""

    keys: list[str] = field(default_factory=list)
    events: dict[str, list[str]] = field(default_factory=dict)  # hour key -> object keys
    songs: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (object key, why)
    test_events: int = 0
    duplicates: int = 0  # messages seen twice in the batch (same MessageId)
    unreadable: list[Unreadable] = field(default_factory=list)
    messages: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "keys": self.keys,
            "event_objects": sum(len(v) for v in self.events.values()),
            "song_objects": len(self.songs),
            "ignored": len(self.ignored),
            "test_events": self.test_events,
            "duplicates": self.duplicates,
            "unreadable": len(self.unreadable),
        }


# Song keys a notification run hands to stage_songs in the Asset event's extra; beyond this
# (a bulk upload) it hands none, and stage_songs lists the catalogue as the schedule does.
MAX_ANNOUNCED_SONGS = 1000
NOTIFIED = "bucket_notifications"  # the extra's "source" on events from notifications


def announcement(routing: Routing) -> dict[str, Any]:
    """The ``extra`` of the ``landed`` events a routing emits: its summary and, when few
    enough, the song files it saw (``song_keys``), so stage_songs loads just those."""
    extra: dict[str, Any] = {"source": NOTIFIED, "objects": routing.summary()}
    if len(routing.songs) <= MAX_ANNOUNCED_SONGS:
        extra["song_keys"] = sorted(set(routing.songs))
    return extra


def announced_song_keys(extras: Iterable[Mapping[str, Any] | None]) -> list[str] | None:
    """The song files that the events which started a run announce, or None when any of
    them announces none (the schedule, a backfill, a bulk upload, or no event at all): then
    only a listing of the catalogue can say what is new."""
    keys: set[str] = set()
    seen = False
    for extra in extras:
        seen = True
        song_keys = (extra or {}).get("song_keys")
        if (extra or {}).get("source") != NOTIFIED or not isinstance(song_keys, list):
            return None
        keys.update(k for k in song_keys if isinstance(k, str))
    return sorted(keys) if seen else None


def parse_body(body: str) -> list[ObjectNotice] | None:
    """The objects a message body announces; None for S3's test event.

    Raises ``NotificationError`` for anything else.
    """
    if len(body) > MAX_BODY:
        raise NotificationError(f"a body of {len(body)} characters (at most {MAX_BODY} are read)")
    try:
        doc = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise NotificationError(f"not JSON: {exc}") from None
    except RecursionError:
        raise NotificationError("not JSON that can be read: nested too deep") from None
    if not isinstance(doc, dict):
        raise NotificationError("not a JSON object")
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        return parse_body(doc["Message"])  # SNS envelope
    if doc.get("Event") == _TEST_EVENT:
        return None
    if "Records" in doc:
        return _s3_records(doc["Records"])
    if doc.get("source") == "aws.s3" and isinstance(doc.get("detail"), dict):
        return [_eventbridge(doc)]
    raise NotificationError("neither an S3 event notification nor an EventBridge S3 event")


def _s3_records(records: Any) -> list[ObjectNotice]:
    if not isinstance(records, list) or not records:
        raise NotificationError("Records is not a non-empty list")
    notices = []
    for n, record in enumerate(records):
        try:
            if record.get("eventSource") != "aws:s3":
                raise NotificationError(f"eventSource {record.get('eventSource')!r}")
            s3 = record["s3"]
            notices.append(
                ObjectNotice(
                    bucket=_text(s3["bucket"]["name"]),
                    # S3 sends keys URL-encoded, a space as '+'.
                    key=unquote_plus(_text(s3["object"]["key"])),
                    event=_text(record["eventName"]),
                    time=_time(record.get("eventTime")),
                )
            )
        except (AttributeError, KeyError, TypeError) as exc:
            raise NotificationError(f"record {n} lacks {exc}") from None
        except NotificationError as exc:
            raise NotificationError(f"record {n}: {exc}") from None
    return notices


def _eventbridge(doc: dict[str, Any]) -> ObjectNotice:
    try:
        detail = doc["detail"]
        return ObjectNotice(
            bucket=_text(detail["bucket"]["name"]),
            key=_text(detail["object"]["key"]),  # EventBridge's keys are not encoded
            event=_text(doc["detail-type"]),
            time=_time(doc.get("time")),
        )
    except (KeyError, TypeError) as exc:
        raise NotificationError(f"EventBridge event lacks {exc}") from None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise NotificationError(f"{value!r} is not a non-empty string")
    return value


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def messages_of(extras: Iterable[Mapping[str, Any] | None]) -> tuple[list[dict], list[Unreadable]]:
    """The SQS messages in asset events' ``extra``, as the watcher's trigger put them there
    (``{"payload": {"message_batch": [...]}}``); an extra of another shape is unreadable."""
    messages, unreadable = [], []
    for extra in extras:
        batch = ((extra or {}).get("payload") or {}).get("message_batch")
        if not isinstance(batch, list):
            unreadable.append(
                Unreadable("", "asset event without a message batch", _cut(_json_or_repr(extra)))
            )
            continue
        messages.extend(m if isinstance(m, dict) else {"Body": m} for m in batch)
    return messages, unreadable


class Router:
    """Turns messages into partition keys for one bucket and its two prefixes.

    :param bucket: the source bucket; notifications of other buckets are ignored
    :param events_prefix: the events' root, the setting ``events_prefix`` (``log_data``)
    :param songs_prefix: the songs' root, the setting ``songs_prefix`` (``song_data``)
    """

    def __init__(self, *, bucket: str, events_prefix: str, songs_prefix: str) -> None:
        self.bucket = bucket
        self.events_root = partitions.data_root(events_prefix)
        self.songs_root = partitions.data_root(songs_prefix)

    def route(self, messages: Iterable[Mapping[str, Any]], *, now: datetime) -> Routing:
        """The keys of the hours that ``messages`` announce objects in (``now``: the hour
        for song files whose notification gives no time)."""
        routing = Routing()
        seen: set[str] = set()
        song_times: list[datetime] = []
        for message in messages:
            routing.messages += 1
            message_id = str(message.get("MessageId") or "")
            if message_id and message_id in seen:
                routing.duplicates += 1
                continue
            seen.add(message_id)
            body = message.get("Body")
            try:
                notices = parse_body(body) if isinstance(body, str) else _no_body()
            except NotificationError as exc:
                routing.unreadable.append(Unreadable(message_id, str(exc), _cut(body)))
                continue
            except Exception as exc:  # a shape this module missed: logged, never raised
                reason = f"unreadable ({type(exc).__name__})"
                routing.unreadable.append(Unreadable(message_id, reason, _cut(body)))
                continue
            if notices is None:
                routing.test_events += 1
                continue
            for notice in notices:
                self._place(notice, routing, song_times, now)
        keys = set(routing.events)
        if routing.songs and not keys:
            keys.add(partitions.format_key(_hour_of(min(song_times))))
        routing.keys = sorted(keys)
        return routing

    def _place(
        self, notice: ObjectNotice, routing: Routing, song_times: list[datetime], now: datetime
    ) -> None:
        key = notice.key
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            routing.ignored.append((_cut(key), f"a key longer than S3's {MAX_KEY_BYTES} bytes"))
        elif notice.bucket != self.bucket:
            routing.ignored.append((key, f"bucket {notice.bucket}, not {self.bucket}"))
        elif not notice.created:
            routing.ignored.append((key, f"event {notice.event} is not routed"))
        elif not key.endswith(".json"):
            routing.ignored.append((key, "not a .json object (staging reads only those)"))
        elif key.startswith(self.events_root):
            hour = partitions.events_hour(self.events_root, key)
            if hour is None:
                routing.ignored.append((key, f"not under {self.events_root}YYYY/MM/DD/HH/"))
            else:
                routing.events.setdefault(partitions.format_key(hour), []).append(key)
        elif key.startswith(self.songs_root):
            routing.songs.append(key)
            song_times.append(notice.time or now)
        else:
            routing.ignored.append((key, "outside the events and songs prefixes"))


def _hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _no_body() -> list[ObjectNotice]:
    raise NotificationError("message has no Body")


def _json_or_repr(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return _cut(value)


def _cut(text: Any) -> str:
    if not isinstance(text, str):
        try:
            text = repr(text)
        except RecursionError:
            text = f"<{type(text).__name__} nested too deep to show>"
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + f"... ({len(text)} chars)"
