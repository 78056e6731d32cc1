"""Turn raw source lines into staging rows, or into a reject with a reason.

The rules (DATA.md and the staging contract):

* rejected: a line that is not JSON (``not_json``) or not an object (``not_object``); a
  required field (``ts``, ``sessionId``, ``itemInSession``, ``page``) missing or null
  (``missing_field:<name>``); a value that cannot be converted losslessly to its column's
  type, including an object or array where a scalar is expected (``bad_type:<name>``),
  an integer outside its column's range (``out_of_range:<name>``) and text holding NUL,
  which PostgreSQL cannot store (``bad_text:<name>``);
* kept and counted as coerced: integer text to integer, integral floats to integer, numbers
  to text for text fields;
* blank lines are not records; a UTF-8 byte-order mark and CRLF line endings are accepted.

Clean lines take a fast path through a typed msgspec decoder; anything it refuses is
re-read field by field so that the reason names the field.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from sparkify.pipeline.timeparse import coerce_int

BOM = b"\xef\xbb\xbf"
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

# (JSON key, staging column, kind), in the order of config/log_json_path.json.
EVENT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("artist", "artist", "text"),
    ("auth", "auth", "text"),
    ("firstName", "first_name", "text"),
    ("gender", "gender", "text"),
    ("itemInSession", "item_in_session", "int32"),
    ("lastName", "last_name", "text"),
    ("length", "length", "float"),
    ("level", "level", "text"),
    ("location", "location", "text"),
    ("method", "method", "text"),
    ("page", "page", "text"),
    ("registration", "registration", "float"),
    ("sessionId", "session_id", "int32"),
    ("song", "song", "text"),
    ("status", "status", "int32"),
    ("ts", "ts", "int64"),
    ("userAgent", "user_agent", "text"),
    ("userId", "user_id", "text"),
)
EVENT_REQUIRED = frozenset({"ts", "sessionId", "itemInSession", "page"})
EVENT_COLUMNS = tuple(column for _, column, _ in EVENT_FIELDS)

# Song files load with JSON 'auto' on Redshift: columns are named as the keys.
SONG_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("song_id", "song_id", "text"),
    ("num_songs", "num_songs", "int32"),
    ("artist_id", "artist_id", "text"),
    ("artist_latitude", "artist_latitude", "float"),
    ("artist_longitude", "artist_longitude", "float"),
    ("artist_location", "artist_location", "text"),
    ("artist_name", "artist_name", "text"),
    ("title", "title", "text"),
    ("duration", "duration", "float"),
    ("year", "year", "int32"),
)
SONG_REQUIRED = frozenset({"song_id", "duration"})
SONG_COLUMNS = tuple(column for _, column, _ in SONG_FIELDS)


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that cannot be staged, and why."""

    reason: str


@dataclass
class Drift:
    """Schema drift seen in a batch: fields not mapped, expected fields absent."""

    unmapped: Counter[str] = field(default_factory=Counter)
    absent: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"unmapped": dict(self.unmapped), "absent": dict(self.absent)}


class _FieldError(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


Int32 = Annotated[int, msgspec.Meta(ge=INT32[0], le=INT32[1])]


class _CleanEvent(msgspec.Struct, forbid_unknown_fields=True):
    """The documented event shape exactly; anything else takes the slow path."""

    artist: str | None
    auth: str | None
    firstName: str | None
    gender: str | None
    itemInSession: Int32
    lastName: str | None
    length: float | None
    level: str | None
    location: str | None
    method: str | None
    page: str
    registration: float | None
    sessionId: Int32
    song: str | None
    status: Int32 | None
    ts: int
    userAgent: str | None
    userId: str | None


_clean_event = msgspec.json.Decoder(_CleanEvent)
_any = msgspec.json.Decoder()
_astuple = msgspec.structs.astuple


def strip_line(raw: bytes) -> bytes:
    """A line without its byte-order mark and line ending."""
    if raw.startswith(BOM):
        raw = raw[3:]
    return raw.rstrip(b"\r\n")


def is_blank(raw: bytes) -> bool:
    return not raw.strip()


class EventParser:
    """Parses event lines; counts coercions and drift as it goes."""

    def __init__(self) -> None:
        self.coerced = 0
        self.drift = Drift()

    def parse(self, line: bytes) -> tuple[Any, ...] | Reject:
        """One stripped, non-blank line to a row in ``EVENT_COLUMNS`` order, or a reject."""
        if b"\\u0000" not in line:
            try:
                return _astuple(_clean_event.decode(line))
            except (msgspec.DecodeError, UnicodeDecodeError):  # not UTF-8: not JSON text
                pass
        return self._parse_slow(line)

    fields = EVENT_FIELDS
    required = EVENT_REQUIRED

    def _parse_slow(self, line: bytes) -> tuple[Any, ...] | Reject:
        """Decode to a plain object and convert field by field, naming what is wrong."""
        try:
            obj = _any.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError):  # not UTF-8: not JSON text
            return Reject("not_json")
        if not isinstance(obj, dict):
            return Reject("not_object")
        return convert(obj, self.fields, self.required, self)


class SongParser(EventParser):
    """Parses whole song files (one JSON object each); no fast path, files are small."""

    fields = SONG_FIELDS
    required = SONG_REQUIRED

    def parse(self, line: bytes) -> tuple[Any, ...] | Reject:
        return self._parse_slow(line)


def convert(
    obj: dict[str, Any],
    fields: tuple[tuple[str, str, str], ...],
    required: frozenset[str],
    counter: EventParser,
) -> tuple[Any, ...] | Reject:
    """Convert one decoded object field by field, with the rules in this module's docstring."""
    row = []
    coerced = False
    absent = []
    for key, _column, kind in fields:
        if key not in obj:
            absent.append(key)
        value = obj.get(key)
        if value is None:
            if key in required:
                return Reject(f"missing_field:{key}")
            row.append(None)
            continue
        try:
            converted, was_coerced = _convert_value(key, kind, value)
        except _FieldError as exc:
            return Reject(exc.reason)
        coerced |= was_coerced
        row.append(converted)
    known = {key for key, _, _ in fields}
    for key in obj:
        if key not in known:
            counter.drift.unmapped[key] += 1
    for key in absent:
        counter.drift.absent[key] += 1
    if coerced:
        counter.coerced += 1
    return tuple(row)


def _convert_value(key: str, kind: str, value: Any) -> tuple[Any, bool]:
    if isinstance(value, (dict, list)):
        raise _FieldError(f"bad_type:{key}")
    if kind == "text":
        if isinstance(value, str):
            if "\x00" in value:
                raise _FieldError(f"bad_text:{key}")
            return value, False
        if isinstance(value, bool):
            return ("true" if value else "false"), True
        if isinstance(value, int):
            return str(value), True
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _FieldError(f"bad_type:{key}")
            return msgspec.json.encode(value).decode(), True
        raise _FieldError(f"bad_type:{key}")
    if kind == "float":
        if isinstance(value, bool):
            raise _FieldError(f"bad_type:{key}")
        if isinstance(value, (int, float)):
            number = float(value)
            was_coerced = False
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise _FieldError(f"bad_type:{key}") from None
            was_coerced = True
        else:
            raise _FieldError(f"bad_type:{key}")
        if not math.isfinite(number):
            raise _FieldError(f"bad_type:{key}")
        return number, was_coerced
    # integers
    number = coerce_int(value)
    if number is None:
        raise _FieldError(f"bad_type:{key}")
    low, high = INT32 if kind == "int32" else INT64
    if not low <= number <= high:
        raise _FieldError(f"out_of_range:{key}")
    return number, not (isinstance(value, int) and not isinstance(value, bool))
