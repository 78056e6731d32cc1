"""Turn raw source lines into staging rows, or into a reject with a reason.

The rules, the same on both warehouses (``sql/staging/check_lines.redshift.sql`` is the
Redshift side), in the order a line is judged:

* ``line_too_long``: the line (line ending excluded) is longer than ``max_line_bytes``
  (default 65,535, Redshift's widest ``VARCHAR``); its first bytes are kept;
* ``not_json``: not UTF-8, or not JSON; ``too_deep``: arrays and objects nested more than
  ``MAX_DEPTH`` deep (counted on the line's brackets outside strings, so the same on any
  decoder); ``not_object``: JSON, but not an object;
* ``missing_field:<name>``: a required field (``ts``, ``sessionId``, ``itemInSession``,
  ``page``) missing or null;
* ``bad_type:<name>``: a value that cannot be converted losslessly to its column's type,
  including an object or array where a scalar is expected;
* ``out_of_range:<name>``: an integer outside its column's range (``int32``, ``int64``;
  ``ts`` within ``EPOCH_MS``, years 1 to 9999; a digit string of any length is judged by its
  digits, never converted whole), or a number
  for a ``float8`` column whose exponent has three digits or more (``1e400``, ``1e-400``)
  or whose text is longer than ``MAX_NUMBER_TEXT`` characters: what no ``float8`` holds
  exactly is refused by its text, never rounded to infinity or zero;
* ``bad_text:<name>``: text holding NUL, which PostgreSQL cannot store;
* kept and counted as coerced: integer text to integer, integral floats to integer, number
  text to float, numbers (as written) and booleans to text;
* blank lines are not records; a UTF-8 byte-order mark at the start of any line and CRLF
  line endings are accepted.

A line's content never raises out of ``parse``: whatever the bytes, the answer is a row or a
reject. Its cost is linear in its length. Drift (fields not mapped) keeps at most
``MAX_DRIFT_NAMES`` names of at most ``MAX_DRIFT_NAME`` characters; the rest is counted
under ``OTHER_FIELDS``.

Clean lines take a fast path through a typed msgspec decoder; anything it refuses is
re-read field by field so that the reason names the field.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

BOM = b"\xef\xbb\xbf"
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# ts: epoch milliseconds from 0001-01-01 to 9999-12-31T23:59:59.999 UTC, what every timestamp
# type (and Python's datetime) holds; a bigint past it cannot become a time in model.
EPOCH_MS = (-62_135_596_800_000, 253_402_300_799_999)
INTEGER_BOUNDS = {"int32": INT32, "int64": INT64, "epoch_ms": EPOCH_MS}
# Arrays and objects nested deeper than this are rejected (Redshift's SUPER allows 1,000;
# the SQL side peels one level per nested REGEXP_REPLACE, so the limit stays small).
MAX_DEPTH = 32
# The longest number text a float8 column takes; with an exponent of at most two digits,
# every such number lies well inside float8's range (no overflow, no underflow).
MAX_NUMBER_TEXT = 200
# Schema drift kept per batch: names, and characters of each name.
MAX_DRIFT_NAMES = 32
MAX_DRIFT_NAME = 64
OTHER_FIELDS = "(other)"
# Drift as stored: staging_partitions.drift is VARCHAR(4096) on Redshift, and the
# schema_drift check's value (both data sets' drift) goes into a VARCHAR(1024).
DRIFT_JSON_BYTES = 2000
CHECK_VALUE_BYTES = 1024
# What the SQL side trims from text before reading a number: ASCII white space only.
ASCII_SPACE = " \t\n\v\f\r"

log = logging.getLogger(__name__)

# (JSON key, staging column, kind). A row's values come in this order (EVENT_COLUMNS), on
# both warehouses; _CleanEvent declares its fields in the same order, since the fast path
# returns its tuple as the row.
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
    ("ts", "ts", "epoch_ms"),
    ("userAgent", "user_agent", "text"),
    ("userId", "user_id", "text"),
)
# The widths in bytes of the staging tables' text columns, as sql/schema/create_tables.redshift.sql
# declares them (tests/unit/test_hostile_lines.py holds the two together). Redshift cuts text
# to them as it stages; PostgreSQL staging cuts the same way (sql/staging/fit_text_widths),
# so both stage the same values and none is too wide for a PostgreSQL index.
EVENT_TEXT_WIDTHS = {
    "artist": 1024,
    "auth": 32,
    "first_name": 256,
    "gender": 16,
    "last_name": 256,
    "level": 16,
    "location": 512,
    "method": 16,
    "page": 64,
    "song": 1024,
    "user_agent": 1024,
    "user_id": 64,
}
SONG_TEXT_WIDTHS = {
    "song_id": 64,
    "artist_id": 64,
    "artist_location": 1024,
    "artist_name": 1024,
    "title": 1024,
}
EVENT_REQUIRED = frozenset({"ts", "sessionId", "itemInSession", "page"})
EVENT_COLUMNS = tuple(column for _, column, _ in EVENT_FIELDS)

# Song files hold one JSON object each; every key goes to the column of its own name, by the
# same rules as the events on both warehouses.
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


TOO_LONG = Reject("line_too_long")
FILE_TOO_LARGE = "file_too_large"  # a song file over max_song_file_bytes, never read


@dataclass
class Drift:
    """Schema drift seen in a batch: fields not mapped, expected fields absent.

    Bounded whatever the batch holds: at most ``MAX_DRIFT_NAMES`` unmapped names, each cut to
    ``MAX_DRIFT_NAME`` characters; later new names are counted under ``OTHER_FIELDS``.
    """

    unmapped: Counter[str] = field(default_factory=Counter)
    absent: Counter[str] = field(default_factory=Counter)

    def add_unmapped(self, name: str, count: int = 1) -> None:
        name = name[:MAX_DRIFT_NAME]
        if name not in self.unmapped and len(self.unmapped) >= MAX_DRIFT_NAMES:
            name = OTHER_FIELDS
        self.unmapped[name] += count

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"unmapped": dict(self.unmapped), "absent": dict(self.absent)}


def drift_json(drift: dict[str, dict[str, int]], max_bytes: int) -> str:
    """Drift as JSON of at most ``max_bytes`` bytes (it is stored in byte-counted columns and
    emitted in asset events): the rarest names are folded into ``OTHER_FIELDS`` until it fits.
    """
    kinds = {kind: dict(counts) for kind, counts in drift.items()}
    while True:
        text = json.dumps(kinds, sort_keys=True)  # ASCII: characters are bytes
        if len(text) <= max_bytes:
            return text
        kind = max(kinds, key=lambda k: len(kinds[k]))
        names = kinds[kind]
        foldable = [name for name in names if name != OTHER_FIELDS]
        if not foldable:
            return json.dumps({k: {OTHER_FIELDS: sum(v.values())} for k, v in kinds.items()})
        rarest = min(foldable, key=lambda name: (names[name], name))
        names[OTHER_FIELDS] = names.get(OTHER_FIELDS, 0) + names.pop(rarest)


class _FieldError(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Float(str):
    """A JSON number literal with a fraction or an exponent, as written."""

    __slots__ = ()


class _BigInt(str):
    """A JSON integer literal too long for the decoder, as written."""

    __slots__ = ()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _fast_float(text: str) -> float:
    """The fast path's floats: plain decimals only; anything else is judged by its text."""
    if len(text) > 24 or "e" in text or "E" in text:
        raise ValueError("judged by the slow path")
    return float(text)


Int32 = Annotated[int, msgspec.Meta(ge=INT32[0], le=INT32[1])]
EpochMs = Annotated[int, msgspec.Meta(ge=EPOCH_MS[0], le=EPOCH_MS[1])]


class _CleanEvent(msgspec.Struct, forbid_unknown_fields=True):
    """The documented event shape exactly; anything else takes the slow path.

    ``length`` and ``registration`` are untyped so that their literals go through
    ``_fast_float``; a value there that is not a float (or null) also takes the slow path.
    """

    artist: str | None
    auth: str | None
    firstName: str | None
    gender: str | None
    itemInSession: Int32
    lastName: str | None
    length: Any
    level: str | None
    location: str | None
    method: str | None
    page: str
    registration: Any
    sessionId: Int32
    song: str | None
    status: Int32 | None
    ts: EpochMs
    userAgent: str | None
    userId: str | None


_clean_event = msgspec.json.Decoder(_CleanEvent, float_hook=_fast_float)
_any = msgspec.json.Decoder(float_hook=_Float)
_astuple = msgspec.structs.astuple
_LENGTH, _REGISTRATION = 6, 11  # positions of the untyped floats in _CleanEvent
_NoneType = type(None)

# Nesting, judged on the line's text as check_lines.redshift.sql judges it: escaped
# backslashes and quotes dropped, strings dropped, every byte but brackets dropped, then
# innermost pairs removed MAX_DEPTH times: anything left is nested deeper.
_STRING = re.compile(rb'"[^"]*"')
_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Number text, as the SQL side matches it.
_EXPONENT_3 = re.compile(r"[eE][+-]?[0-9]{3}", re.ASCII)
# Unambiguous, so a failing match costs linear time (``[0-9]+[.]?[0-9]*`` backtracks
# quadratically over a long run of digits: 77 s for 60,000 digits and an "x").
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_INT_TEXT = re.compile(r"[+-]?[0-9]+(?:[.]0*)?", re.ASCII)
_INTEGRAL_NUMBER = re.compile(r"-?[0-9]+[.]0*", re.ASCII)
_EXPONENT_NUMBER = re.compile(r"-?[0-9]+([.][0-9]+)?[eE][+-]?[0-9]{1,2}", re.ASCII)


def nested_too_deep(line: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the line's brackets outside strings nest more than ``limit`` deep."""
    if line.count(b"[") + line.count(b"{") <= limit:
        return False
    skeleton = line.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = _STRING.sub(b"", skeleton).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not skeleton:
            return False
        skeleton = _PAIR.sub(b"", skeleton)
    return bool(skeleton)


def strip_line(raw: bytes) -> bytes:
    """A line without its byte-order mark and line ending."""
    if raw.startswith(BOM):
        raw = raw[3:]
    return raw.rstrip(b"\r\n")


def is_blank(raw: bytes) -> bool:
    return not raw.strip()


def judge_line(
    parse: Callable[[bytes], tuple[Any, ...] | Reject], raw: bytes, max_line: int
) -> tuple[bytes, tuple[Any, ...] | Reject | None]:
    """A raw line as read (line ending off) to the line as judged (its byte-order mark and
    ``\r`` dropped) and a row, a reject, or None for a blank line.

    ``line_too_long`` is judged on the line as read, before anything is stripped.
    """
    if len(raw) > max_line:
        return raw, TOO_LONG
    if raw.startswith(BOM) or raw.endswith(b"\r"):
        raw = strip_line(raw)
    if is_blank(raw):
        return raw, None
    return raw, parse(raw)


class EventParser:
    """Parses event lines; counts coercions and drift as it goes."""

    def __init__(self) -> None:
        self.coerced = 0
        self.drift = Drift()

    def parse(self, line: bytes) -> tuple[Any, ...] | Reject:
        """One stripped, non-blank line to a row in ``EVENT_COLUMNS`` order, or a reject.

        Never raises: whatever the line holds, the answer is a row or a reject.
        """
        if b"\\u0000" not in line:
            try:
                row = _astuple(_clean_event.decode(line))
            except (msgspec.DecodeError, UnicodeDecodeError, ValueError):
                pass
            else:
                if type(row[_LENGTH]) in (float, _NoneType) and type(row[_REGISTRATION]) in (
                    float,
                    _NoneType,
                ):
                    return row
        return self._parse_slow_never_raising(line)

    fields = EVENT_FIELDS
    required = EVENT_REQUIRED

    def _parse_slow_never_raising(self, line: bytes) -> tuple[Any, ...] | Reject:
        try:
            return self._parse_slow(line)
        except Exception as exc:  # a rule this module missed: rejected, never raised
            log.warning("Record rejected by an unexpected %s: %s", type(exc).__name__, exc)
            return Reject(f"unreadable:{type(exc).__name__}")

    def _parse_slow(self, line: bytes) -> tuple[Any, ...] | Reject:
        """Decode to a plain object and convert field by field, naming what is wrong."""
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:  # not UTF-8: not JSON text
            return Reject("not_json")
        if nested_too_deep(line):
            return Reject("too_deep")
        try:
            obj = _any.decode(line)
        except msgspec.ValidationError:
            # Valid JSON holding an integer too long for msgspec: read with every number
            # kept as its text.
            try:
                obj = json.loads(
                    text, parse_float=_Float, parse_int=_BigInt, parse_constant=_reject_constant
                )
            except ValueError:
                return Reject("not_json")
        except msgspec.DecodeError:
            return Reject("not_json")
        if not isinstance(obj, dict):
            return Reject("not_object")
        return convert(obj, self.fields, self.required, self)


class SongParser(EventParser):
    """Parses whole song files (one JSON object each); no fast path, files are small."""

    fields = SONG_FIELDS
    required = SONG_REQUIRED

    def parse(self, line: bytes) -> tuple[Any, ...] | Reject:
        return self._parse_slow_never_raising(line)


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
            counter.drift.add_unmapped(key)
    for key in absent:
        counter.drift.absent[key] += 1
    if coerced:
        counter.coerced += 1
    return tuple(row)


def _convert_value(key: str, kind: str, value: Any) -> tuple[Any, bool]:
    if isinstance(value, (dict, list)) or (isinstance(value, bool) and kind != "text"):
        raise _FieldError(f"bad_type:{key}")
    if kind == "text":
        return _text(key, value)
    if kind == "float":
        return _float(key, value)
    return _integer(key, value, INTEGER_BOUNDS[kind])


def _text(key: str, value: Any) -> tuple[str, bool]:
    if type(value) is str:
        if "\x00" in value:
            raise _FieldError(f"bad_text:{key}")
        return value, False
    if isinstance(value, bool):
        return ("true" if value else "false"), True
    if isinstance(value, (_Float, _BigInt)):  # a number, as written
        return str.__str__(value), True
    if isinstance(value, int):
        return str(value), True
    raise _FieldError(f"bad_type:{key}")


def _float(key: str, value: Any) -> tuple[float, bool]:
    """A float8 from a JSON number, or from number text (coerced), judged by its text."""
    if type(value) is str:
        text = value.strip(ASCII_SPACE)
        if not _FLOAT_TEXT.fullmatch(text):
            raise _FieldError(f"bad_type:{key}")
        was_coerced = True
    elif isinstance(value, (_Float, _BigInt, int)):
        text = value if isinstance(value, str) else _int_text(value)
        was_coerced = False
    else:
        raise _FieldError(f"bad_type:{key}")
    if len(text) > MAX_NUMBER_TEXT or _EXPONENT_3.search(text):
        raise _FieldError(f"out_of_range:{key}")
    return float(text), was_coerced


def _int_text(value: int) -> str:
    """An int's decimal text, or a stand-in longer than any number text taken."""
    if value.bit_length() > 4 * MAX_NUMBER_TEXT:
        return "9" * (MAX_NUMBER_TEXT + 1)
    return str(value)


def _integer(key: str, value: Any, bounds: tuple[int, int]) -> tuple[int, bool]:
    """An integer, exactly as check_lines.redshift.sql reads one."""
    if isinstance(value, _Float):
        if _EXPONENT_3.search(value):
            raise _FieldError(f"out_of_range:{key}")
        if _INTEGRAL_NUMBER.fullmatch(value):
            return _in_range(key, value, bounds), True
        if _EXPONENT_NUMBER.fullmatch(value):
            number = float(value)
            if not number.is_integer():
                raise _FieldError(f"bad_type:{key}")
            if not bounds[0] <= number < bounds[1] + 1:
                raise _FieldError(f"out_of_range:{key}")
            return int(number), True
        raise _FieldError(f"bad_type:{key}")
    if isinstance(value, _BigInt):
        return _in_range(key, value, bounds), False
    if type(value) is str:
        text = value.strip(ASCII_SPACE)
        if not _INT_TEXT.fullmatch(text):
            raise _FieldError(f"bad_type:{key}")
        return _in_range(key, text, bounds), True
    if isinstance(value, int):
        if not bounds[0] <= value <= bounds[1]:
            raise _FieldError(f"out_of_range:{key}")
        return value, False
    raise _FieldError(f"bad_type:{key}")


def _in_range(key: str, text: str, bounds: tuple[int, int]) -> int:
    """Integer text (sign, digits, maybe ``.000``) in range, judged by its digits first."""
    digits = text.split(".", 1)[0].lstrip("+-").lstrip("0")
    if len(digits) > 19:
        raise _FieldError(f"out_of_range:{key}")
    number = -int(digits or "0") if text.startswith("-") else int(digits or "0")
    if not bounds[0] <= number <= bounds[1]:
        raise _FieldError(f"out_of_range:{key}")
    return number
