"""Writing daily log files, optionally with production defects, and counting every line.

``DayFileWriter`` writes one ``log_data/YYYY/MM/YYYY-MM-DD-events.json`` line by
line and keeps, per hour partition, what staging must end up with. With a dirty
rate it damages that share of event lines and records each defect with the
outcome the loaders must reach:

========== ===================================================================
outcome    meaning
========== ===================================================================
staged     loaded as is (an extra field, a byte-order mark, CRLF endings)
coerced    loaded after a lossless type conversion (``"ts":"1541…"``, ``184.0``,
           ``"userId":53``)
rejected   goes to the reject table with ``reason``: ``not_json``,
           ``not_object``, ``missing_field:<name>``, ``bad_type:<name>``
duplicate  a second copy of an earlier line (same sessionId, itemInSession)
blank      nothing to load: a blank line (dropped when landing) or an empty file
========== ===================================================================

The outcomes are disjoint: a coerced line is counted as coerced, not staged,
though staging keeps it. A line's partition is the UTC hour of its ``ts`` when
landing can read one, else hour 00 of the file's day, which is where
``sparkify land`` puts it. Partitions are keyed like Airflow's hourly partition
keys: ``2018-11-02T13:00:00``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sparkify.local.generate.catalogue import encode_json

LINE_KINDS = (
    "not_json",
    "not_object",
    "missing_field",
    "extra_field",
    "int_text",
    "int_float",
    "number_for_string",
    "nested_value",
    "bad_value",
    "blank",
    "duplicate",
)
# Hostile lines (``generate(hostile=True)``): what a producer gone wrong, or an attacker,
# writes; each must be rejected with its reason (or staged, cut to the column's width),
# never fail its hour. The staging rules: sparkify.pipeline.records.
HOSTILE_KINDS = (
    "too_deep",
    "huge_number",
    "long_digits_ts",
    "line_too_long",
    "not_utf8",
    "bom_inside",
    "wide_text",
)
_DEEP = 40  # past sparkify.pipeline.records.MAX_DEPTH (32)
_TOO_LONG = 70_000  # past the default max_line_bytes (65,535)
# Text that does not compress: each character another CJK ideograph.
_WIDE = "".join(chr(0x4E00 + (n * 7919) % 20000) for n in range(3000))
FILE_KINDS = ("bom", "crlf", "truncated")
# Per-partition counters. The first three describe the events that happened in the
# hour (song plays, plays of catalogue songs); the others the lines that land in it
# and what staging must make of them.
COUNTERS = (
    "events",
    "plays",
    "plays_matched",
    "lines",
    "staged",
    "coerced",
    "rejected",
    "duplicate",
    "plays_staged",
    "plays_matched_staged",
)
(
    _EVENTS,
    _PLAYS,
    _PLAYS_MATCHED,
    _LINES,
    _STAGED,
    _COERCED,
    _REJECTED,
    _DUPLICATE,
    _PLAYS_STAGED,
    _MATCHED_STAGED,
) = range(len(COUNTERS))
_JUNK = (
    "2018-11-02 13:45:01,796 WARN  EventLogger - queue full, dropped 3 events",
    "<html><body><h1>502 Bad Gateway</h1></body></html>",
    "}{",
    "\x1b[0m",
)
NUMERIC_TITLES = (1999, 1979, 22, 311, 7, 2112, 1984, 99)


@dataclass(frozen=True, slots=True)
class Event:
    """One clean event line as the simulator produced it."""

    line: str
    ts: int
    nextsong: bool
    matched: bool
    logged_in: bool


@dataclass
class Defects:
    """Shared state of a dirty run: the rate, its own random stream, the record."""

    rate: float
    rng: random.Random
    matches: Callable[[str, str, float], bool]
    records: list[dict[str, object]] = field(default_factory=list)
    hostile: bool = False
    _bag: list[str] = field(default_factory=list)

    def next_kind(self) -> str:
        """Line defects are dealt from a shuffled bag so every kind shows up early."""
        if not self._bag:
            self._bag = list(LINE_KINDS) + (list(HOSTILE_KINDS) if self.hostile else [])
            self.rng.shuffle(self._bag)
        return self._bag[-1]

    def used_kind(self) -> None:
        """The kind ``next_kind`` dealt was applied; deal the next one next time."""
        self._bag.pop()

    def record(self, file: str, line: int | None, kind: str, outcome: str, **extra: object) -> None:
        """One defect: ``line`` is 1-based, or ``None`` for a whole file (CRLF, empty)."""
        self.records.append({"file": file, "line": line, "kind": kind, "outcome": outcome, **extra})


class DayFileWriter:
    """Streams one day's events to its file; counts lines per hour partition."""

    def __init__(
        self, out: Path, day: date, defects: Defects | None, file_kind: str | None
    ) -> None:
        self.day = day
        self.rel = f"log_data/{day:%Y/%m}/{day:%Y-%m-%d}-events.json"
        path = out / self.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # ASCII text except a possible BOM and hostile lines; newline="" so "\n" is written
        # as given; surrogateescape writes a lone "\udce9" as the byte 0xE9 (not UTF-8).
        self._fh = path.open(
            "w", encoding="utf-8", errors="surrogateescape", newline="", buffering=1 << 20
        )
        self._day_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000
        self.hours = [[0] * len(COUNTERS) for _ in range(24)]
        self.lines = 0
        self.blank = 0
        self._defects = defects
        self._file_kind = file_kind
        self._sep = "\r\n" if file_kind == "crlf" else "\n"
        self._pending: Event | None = None

    # -- the clean path -----------------------------------------------------------
    def add(self, event: Event) -> None:
        """Append one event (held back one line in dirty mode, to damage the last line)."""
        if self._defects is None:
            hour = self._happened(event)
            self._write(event.line)
            self._count(hour, "staged", event)
            return
        if self._pending is not None:
            self._flush(self._pending, final=False)
        self._pending = event

    def close(self) -> dict[str, object]:
        """Finish the file; returns its totals."""
        if self._pending is not None:
            self._flush(self._pending, final=True)
            self._pending = None
        self._fh.close()
        if self._defects is not None and self._file_kind == "crlf" and self.lines:
            self._defects.record(self.rel, None, "crlf", "staged")
        return {
            "file": self.rel,
            "events": sum(h[_EVENTS] for h in self.hours),
            "plays": sum(h[_PLAYS] for h in self.hours),
            "lines": self.lines,
            "blank_lines": self.blank,
            "file_defect": self._file_kind,
        }

    def partitions(self) -> dict[str, dict[str, int]]:
        """Counters for each of the day's 24 hours, keyed ``YYYY-MM-DDTHH:00:00``."""
        return {
            f"{self.day:%Y-%m-%d}T{hour:02d}:00:00": dict(zip(COUNTERS, counts, strict=True))
            for hour, counts in enumerate(self.hours)
        }

    def _write(self, text: str) -> int:
        if self.lines:
            self._fh.write(self._sep)
        self._fh.write(text)
        self.lines += 1
        return self.lines

    def _happened(self, event: Event) -> int:
        """Count an event in the hour it happened; returns that hour."""
        hour = (event.ts - self._day_ms) // 3_600_000
        counts = self.hours[hour]
        counts[_EVENTS] += 1
        counts[_PLAYS] += event.nextsong
        counts[_PLAYS_MATCHED] += event.matched
        return hour

    def _count(self, hour: int, outcome: str, event: Event | None) -> None:
        """Count one line in the partition it lands in (``event`` for a line that holds one)."""
        counts = self.hours[hour]
        counts[_LINES] += 1
        if outcome == "rejected":
            counts[_REJECTED] += 1
        elif outcome == "duplicate":
            counts[_DUPLICATE] += 1
        else:
            counts[_COERCED if outcome == "coerced" else _STAGED] += 1
            if event is not None and event.nextsong:
                counts[_PLAYS_STAGED] += 1
                counts[_MATCHED_STAGED] += event.matched

    # -- the dirty path -----------------------------------------------------------
    def _flush(self, event: Event, *, final: bool) -> None:
        d = self._defects
        assert d is not None
        # Events count in the hour they happened; lines in the partition they land in.
        hour = self._happened(event)
        if self.lines == 0 and self._file_kind == "bom":
            self._fh.write("\ufeff")
            self._record(self._write(event.line), "bom", "staged", hour, event)
            return
        if final and self._file_kind == "truncated":
            cut = d.rng.randint(1, len(event.line) - 1)
            no = self._write(event.line[:cut])
            self._record(no, "truncated", "rejected", 0, event, reason="not_json")
            return
        if d.rng.random() >= d.rate:
            self._write(event.line)
            self._count(hour, "staged", event)
            return
        kind = d.next_kind()
        if kind == "number_for_string" and not (event.logged_in or event.nextsong):
            # Only userId, song and artist hold text that can turn numeric; keep the
            # kind for the next line that has one.
            self._write(event.line)
            self._count(hour, "staged", event)
            return
        d.used_kind()
        getattr(self, f"_{kind}")(event, hour, d)

    def _record(
        self,
        line: int,
        kind: str,
        outcome: str,
        hour: int,
        event: Event | None,
        **extra: object,
    ) -> None:
        assert self._defects is not None
        self._count(hour, outcome, event)
        partition = f"{self.day:%Y-%m-%d}T{hour:02d}:00:00"
        self._defects.record(self.rel, line, kind, outcome, partition=partition, **extra)

    def _mutated(self, event: Event, obj: object, kind: str, outcome: str, hour: int, **extra):
        self._record(self._write(encode_json(obj)), kind, outcome, hour, event, **extra)

    def _not_json(self, event: Event, hour: int, d: Defects) -> None:
        if d.rng.random() < 0.5:  # a stray log line between events
            no = self._write(d.rng.choice(_JUNK))
            self._record(no, "not_json", "rejected", 0, None, reason="not_json")
            self._write(event.line)
            self._count(hour, "staged", event)
        else:  # a partial write: the event's own line cut short
            cut = d.rng.randint(1, len(event.line) - 1)
            no = self._write(event.line[:cut])
            self._record(no, "not_json", "rejected", 0, event, reason="not_json")

    def _not_object(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        wrapped = d.rng.choice(([obj], event.line, None))  # array, double-encoded, null
        self._mutated(event, wrapped, "not_object", "rejected", 0, reason="not_object")

    def _missing_field(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        name = d.rng.choice(("ts", "sessionId", "itemInSession", "page"))
        if d.rng.random() < 0.5:
            del obj[name]
        else:
            obj[name] = None
        self._mutated(
            event,
            obj,
            "missing_field",
            "rejected",
            0 if name == "ts" else hour,
            field=name,
            reason=f"missing_field:{name}",
        )

    def _extra_field(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        name, value = d.rng.choice((("sessionLength", 1834), ("experiment", "b"), ("device", None)))
        obj[name] = value
        self._mutated(event, obj, "extra_field", "staged", hour, field=name)

    def _int_text(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        name = d.rng.choice(("ts", "sessionId"))
        obj[name] = str(obj[name])
        self._mutated(event, obj, "int_text", "coerced", hour, field=name)

    def _int_float(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        name = d.rng.choice(("ts", "sessionId", "itemInSession", "status"))
        obj[name] = float(obj[name])
        self._mutated(event, obj, "int_float", "coerced", hour, field=name)

    def _number_for_string(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        names = (["userId"] if event.logged_in else []) + (
            ["song", "artist"] if event.nextsong else []
        )
        name = d.rng.choice(names)
        if name == "userId":
            obj[name] = int(obj[name])
        else:
            obj[name] = d.rng.choice(NUMERIC_TITLES)
        matched = event.nextsong and d.matches(str(obj["song"]), str(obj["artist"]), obj["length"])
        changed = Event(event.line, event.ts, event.nextsong, matched, event.logged_in)
        self._mutated(changed, obj, "number_for_string", "coerced", hour, field=name)

    def _nested_value(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        name = d.rng.choice(("ts", "sessionId", "level", "song", "userAgent", "location", "page"))
        obj[name] = d.rng.choice(({"value": obj[name]}, [obj[name]]))
        self._mutated(
            event,
            obj,
            "nested_value",
            "rejected",
            0 if name == "ts" else hour,
            field=name,
            reason=f"bad_type:{name}",
        )

    def _bad_value(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        when = datetime.fromtimestamp(event.ts / 1000, UTC)
        obj["ts"] = d.rng.choice(("yesterday", f"{when:%Y-%m-%dT%H:%M:%SZ}", event.ts + 0.5, True))
        self._mutated(event, obj, "bad_value", "rejected", 0, field="ts", reason="bad_type:ts")

    def _blank(self, event: Event, hour: int, d: Defects) -> None:
        no = self._write(d.rng.choice(("", "  ")))
        self.blank += 1
        assert self._defects is not None
        self._defects.record(self.rel, no, "blank", "blank")
        self._write(event.line)
        self._count(hour, "staged", event)

    def _duplicate(self, event: Event, hour: int, d: Defects) -> None:
        self._write(event.line)
        self._count(hour, "staged", event)
        no = self._write(event.line)
        self._record(no, "duplicate", "duplicate", hour, event)

    # -- hostile lines ------------------------------------------------------------
    def _too_deep(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        nested: object = 1
        for _ in range(_DEEP):
            nested = [nested]
        obj["context"] = nested
        self._mutated(event, obj, "too_deep", "rejected", hour, reason="too_deep")

    def _huge_number(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        name, literal = d.rng.choice((("sessionId", "9" * 300), ("length", "1e400")))
        obj[name] = "__HUGE__"
        text = encode_json(obj).replace('"__HUGE__"', literal)
        no = self._write(text)
        self._record(no, "huge_number", "rejected", hour, event, field=name,
                     reason=f"out_of_range:{name}")  # fmt: skip

    def _long_digits_ts(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        obj["ts"] = "9" * 5000  # landing cannot read it: hour 00, as for any unreadable ts
        self._mutated(event, obj, "long_digits_ts", "rejected", 0, field="ts",
                      reason="out_of_range:ts")  # fmt: skip

    def _line_too_long(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        obj["userAgent"] = "x" * _TOO_LONG
        self._mutated(event, obj, "line_too_long", "rejected", hour, reason="line_too_long")

    def _not_utf8(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        obj["method"] = "__BYTE__"
        no = self._write(encode_json(obj).replace("__BYTE__", "caf\udce9"))
        self._record(no, "not_utf8", "rejected", hour, event, reason="not_json")

    def _bom_inside(self, event: Event, hour: int, d: Defects) -> None:
        self._record(self._write("\ufeff" + event.line), "bom_inside", "staged", hour, event)

    def _wide_text(self, event: Event, hour: int, d: Defects) -> None:
        obj = _loads(event.line)
        obj["userAgent"] = _WIDE  # staged, cut to the column's 1,024 bytes on both warehouses
        obj["location"] = _WIDE[::-1]
        no = self._write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        self._record(no, "wide_text", "staged", hour, event)


def _loads(line: str) -> dict:
    return json.loads(line)
