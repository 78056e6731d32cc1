"""Staging into PostgreSQL: each object streamed through msgspec into ``COPY ... FROM STDIN``.

A partition is staged in one transaction: rows are copied into a temporary table, then
swapped into ``staging_events`` (or merged into ``staging_songs``) together with the
partition's rejects, ledger rows and counts. A failure at any point rolls all of it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from sparkify.pipeline import partitions
from sparkify.pipeline.records import (
    EVENT_COLUMNS,
    EVENT_FIELDS,
    EVENT_TEXT_WIDTHS,
    FILE_TOO_LARGE,
    SONG_COLUMNS,
    SONG_TEXT_WIDTHS,
    EventParser,
    Reject,
    SongParser,
    judge_line,
    strip_line,
)
from sparkify.pipeline.sql import render, statements
from sparkify.pipeline.staging import ledger as bookkeeping
from sparkify.pipeline.staging.lines import MAX_LINE_BYTES, numbered_lines
from sparkify.pipeline.staging.objects import SourceObject, fetch_whole
from sparkify.pipeline.staging.spool import RejectSpool
from sparkify.pipeline.staging.stats import StageStats

# Binary COPY: PostgreSQL types of EVENT_COLUMNS, and of (partition_hour, source_key,
# line_no, *EVENT_COLUMNS).
_PG_TYPES = {
    "text": "text",
    "int32": "int4",
    "int64": "int8",
    "epoch_ms": "int8",
    "float": "float8",
}
EVENT_COPY_TYPES = [_PG_TYPES[kind] for _, _, kind in EVENT_FIELDS]
DIRECT_COPY_TYPES = ["timestamp", "text", "int4", *EVENT_COPY_TYPES]

REJECT_COLUMNS = ("dataset", "partition_hour", "source_key", "line_no", "reason", "raw_text")


@dataclass(frozen=True)
class Limits:
    """What one line or song file may cost (the settings of the same names)."""

    reject_text_limit: int = 4096
    max_line_bytes: int = MAX_LINE_BYTES
    max_song_file_bytes: int = MAX_LINE_BYTES

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(
            settings.reject_text_limit, settings.max_line_bytes, settings.max_song_file_bytes
        )


def _one(name: str, **context: object) -> str:
    """The one statement of ``sql/<name>.sql``."""
    (sql,) = statements(render(name, **context))
    return sql


def raw_text(line: bytes, limit: int) -> str:
    """The rejected line as text, bounded, with NUL (which PostgreSQL refuses) escaped."""
    return line[: limit * 4].decode("utf-8", errors="replace")[:limit].replace("\x00", "\\u0000")


class ObjectSource:
    """What the stager needs of S3 (see ``sparkify.pipeline.staging.objects.S3Objects``)."""

    def list(self, prefix: str, suffix: str = ".json") -> list[SourceObject]: ...
    def chunks(self, key: str) -> Iterable[bytes]: ...


def stage_events(
    conn: psycopg.Connection,
    source: ObjectSource,
    objects: list[SourceObject],
    hour: datetime,
    *,
    limits: Limits = Limits(),
    force: bool = False,
) -> StageStats:
    """Replace partition ``hour`` of ``staging_events`` with the lines of ``objects``.

    When the load ledger already holds exactly these objects (same keys, same ETags) for the
    partition, nothing is reloaded and the partition's recorded counts are returned, unless
    ``force``. A changed, added or removed object reloads the whole partition.
    """
    stats = StageStats("events", partitions.format_key(hour))
    hour_value = partitions.naive_utc(hour)
    params = {"partition_hour": hour_value}
    with conn.transaction(), conn.cursor() as cur:
        # Concurrent runs of one partition queue here rather than both loading its objects.
        bookkeeping.lock(cur, "postgres", f"events:{stats.partition_key}")
        if not force and bookkeeping.restore_if_unchanged(cur, stats, objects, hour_value):
            return stats
        bookkeeping.forget_partition(cur, "events", hour_value)
        delete_sql, insert_sql = statements(
            render("staging/replace_events_partition", columns=EVENT_COLUMNS)
        )
        cur.execute(delete_sql, params)
        try:
            # The common case, no duplicate: COPY straight into staging_events. A duplicate
            # (in the load, or staged by another partition) trips the unique index; then the
            # savepoint is rolled back and the load goes through a temporary table instead.
            with conn.transaction():
                stats, parser, ledger = _load_events(
                    cur, source, objects, hour_value, limits, direct=True
                )
                # Every row written went in (the COPY would have failed otherwise).
                stats.staged = stats.written
        except psycopg.errors.UniqueViolation:
            cur.execute(_one("staging/create_load_events"))
            stats, parser, ledger = _load_events(
                cur, source, objects, hour_value, limits, direct=False
            )
            # Duplicates as detected (copies within the load, or of an event another
            # partition holds), counted before the insert leaves them out; the insert's
            # own row count is the staged rows. Nothing here is derived from the others,
            # so quality's lines_reconcile can catch a row that went missing.
            bookkeeping.run(cur, "staging/count_duplicate_events", {})
            stats.duplicate = int(cur.fetchone()[0])
            cur.execute(insert_sql, params)
            stats.staged = cur.rowcount
        stats.coerced = parser.coerced
        stats.drift = parser.drift.as_dict()
        _record_duplicates_per_object(cur, ledger, hour_value)
        _write_ledger(cur, "events", ledger, hour_value)
        bookkeeping.write_partition(cur, stats, hour_value)
    return stats


def _load_events(
    cur: psycopg.Cursor,
    source: ObjectSource,
    objects: list[SourceObject],
    hour_value: datetime,
    limits: Limits,
    *,
    direct: bool,
) -> tuple[StageStats, EventParser, list[tuple[SourceObject, dict[str, int]]]]:
    """Copy every object's rows (into staging_events if ``direct``, else load_events)."""
    stats = StageStats("events", partitions.format_key(hour_value))
    parser = EventParser()
    ledger = []
    for obj in objects:
        counts = _copy_event_object(
            cur, source, obj, hour_value, parser, stats, limits, direct=direct
        )
        ledger.append((obj, counts))
    _fit_text_widths(
        cur,
        "staging_events" if direct else "load_events",
        EVENT_TEXT_WIDTHS,
        hour_value if direct else None,
    )
    return stats, parser, ledger


def _fit_text_widths(
    cur: psycopg.Cursor, table: str, widths: dict[str, int], hour_value: datetime | None
) -> None:
    """Cut the loaded rows' text to Redshift's widths (``sql/staging/fit_text_widths``)."""
    params = {} if hour_value is None else {"partition_hour": hour_value}
    bookkeeping.run(
        cur,
        "staging/fit_text_widths",
        params,
        table=table,
        widths=widths,
        by_hour=hour_value is not None,
    )


def _copy_event_object(
    cur: psycopg.Cursor,
    source: ObjectSource,
    obj: SourceObject,
    hour_value: datetime,
    parser: EventParser,
    stats: StageStats,
    limits: Limits,
    *,
    direct: bool,
) -> dict[str, int]:
    counts = {"read": 0, "staged": 0, "rejected": 0, "duplicate": 0, "coerced": 0}
    coerced_before = parser.coerced
    key = obj.key
    parse = parser.parse
    max_line = limits.max_line_bytes
    reject_text_limit = limits.reject_text_limit
    table, types = ("staging_events", DIRECT_COPY_TYPES) if direct else ("load_events", None)
    copy_sql = _one("staging/copy_event_rows", table=table, columns=EVENT_COLUMNS)
    # The rejects wait in a spool until the rows' COPY ends (one COPY at a time).
    with RejectSpool() as rejects:
        with cur.copy(copy_sql) as copy:
            copy.set_types(types or DIRECT_COPY_TYPES)
            write = copy.write_row
            for line_no, raw in numbered_lines(source.chunks(key), max_line):
                raw, row = judge_line(parse, raw, max_line)
                if row is None:
                    continue
                counts["read"] += 1
                if type(row) is Reject:
                    rejects.append(key, line_no, row.reason, raw_text(raw, reject_text_limit))
                    stats.reasons[row.reason] += 1
                else:
                    write((hour_value, key, line_no, *row))
                    stats.written += 1
        _copy_rejects(cur, "events", hour_value, rejects)
        counts["rejected"] = rejects.count
    counts["coerced"] = parser.coerced - coerced_before
    stats.objects += 1
    stats.read += counts["read"]
    stats.rejected += counts["rejected"]
    stats.source_keys.append(key)
    return counts


def _copy_rejects(
    cur: psycopg.Cursor, dataset: str, hour_value: datetime, rejects: RejectSpool
) -> None:
    if not rejects.count:
        return
    with cur.copy(_one("ledger/copy_rejects", columns=REJECT_COLUMNS)) as copy:
        for key, line_no, reason, text in rejects:
            copy.write_row((dataset, hour_value, key, line_no, reason, text))


def _record_duplicates_per_object(
    cur: psycopg.Cursor, ledger: list[tuple[SourceObject, dict[str, int]]], hour_value: datetime
) -> None:
    """Fill each object's staged and duplicate counts from what actually went in."""
    if not ledger:
        return
    bookkeeping.run(cur, "staging/count_staged_per_object", {"partition_hour": hour_value})
    staged = dict(cur.fetchall())
    for obj, counts in ledger:
        counts["staged"] = staged.get(obj.key, 0)
        counts["duplicate"] = counts["read"] - counts["rejected"] - counts["staged"]


def _write_ledger(
    cur: psycopg.Cursor,
    dataset: str,
    ledger: list[tuple[SourceObject, dict[str, int]]],
    hour_value: datetime,
) -> None:
    rows = [bookkeeping.ledger_row(dataset, obj, hour_value, c) for obj, c in ledger]
    bookkeeping.write_objects(cur, rows)


def stage_songs(
    conn: psycopg.Connection,
    source: ObjectSource,
    objects: Iterable[SourceObject],
    hour: datetime,
    *,
    limits: Limits = Limits(),
) -> StageStats:
    """Merge the song files in ``objects`` (new or changed ones) into ``staging_songs``.

    The rows carry ``partition_hour`` = ``hour`` so that ``model`` for that hour picks them up.
    When nothing is new the partition keeps the counts of what it loaded before.
    """
    stats = StageStats("songs", partitions.format_key(hour))
    hour_value = partitions.naive_utc(hour)
    parser = SongParser()
    ledger = []
    with conn.transaction(), conn.cursor() as cur, RejectSpool() as rejects:
        # One song loader at a time: two partitions must not both load one new file.
        bookkeeping.lock(cur, "postgres", "songs")
        objects = bookkeeping.unseen_objects(cur, "songs", objects)
        if not objects:
            bookkeeping.keep_or_record_empty(cur, stats, hour_value)
            return stats
        cur.execute(_one("staging/create_load_songs"))
        with cur.copy(_one("staging/copy_song_rows", columns=SONG_COLUMNS)) as copy:
            max_bytes = limits.max_song_file_bytes
            for obj, content in fetch_whole(source, objects, max_bytes=max_bytes):
                counts = {"read": 1, "staged": 0, "rejected": 0, "duplicate": 0, "coerced": 0}
                stats.objects += 1
                stats.read += 1
                stats.source_keys.append(obj.key)
                coerced_before = parser.coerced
                if content is None or len(content) > max_bytes:
                    row: tuple[Any, ...] | Reject = Reject(FILE_TOO_LARGE)
                    content = content or b""
                else:
                    content = strip_line(content).strip()
                    row = parser.parse(content)
                if isinstance(row, Reject):
                    counts["rejected"] = 1
                    stats.rejected += 1
                    stats.reasons[row.reason] += 1
                    text = raw_text(content, limits.reject_text_limit)
                    rejects.append(obj.key, 1, row.reason, text)
                else:
                    copy.write_row((*row, obj.key, hour_value))
                counts["coerced"] = parser.coerced - coerced_before
                ledger.append((obj, counts))
        _fit_text_widths(cur, "load_songs", SONG_TEXT_WIDTHS, None)
        keys = [o.key for o in objects]
        bookkeeping.forget_object_rejects(cur, "songs", keys)
        _copy_rejects(cur, "songs", hour_value, rejects)
        for sql in statements(render("staging/merge_songs", columns=SONG_COLUMNS)):
            cur.execute(sql)
        # The picks model matches plays with, for the triples just merged.
        for sql in statements(render("staging/merge_song_picks")):
            cur.execute(sql)
        bookkeeping.run(cur, "staging/staged_song_keys", {"keys": keys})
        staged_keys = {r[0] for r in cur.fetchall()}
        for obj, counts in ledger:
            if obj.key in staged_keys:
                counts["staged"] = 1
            elif not counts["rejected"]:
                counts["duplicate"] = 1  # another file of this load carries the same song_id
        stats.staged = sum(c["staged"] for _, c in ledger)
        stats.duplicate = sum(c["duplicate"] for _, c in ledger)
        stats.coerced = parser.coerced
        stats.drift = parser.drift.as_dict()
        _write_ledger(cur, "songs", ledger, hour_value)
        bookkeeping.write_partition_from_ledger(cur, stats, hour_value)
    return stats
