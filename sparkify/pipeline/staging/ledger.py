"""The staging bookkeeping both warehouses share: the load ledger and the partitions' counts.

Its statements are ``sql/ledger/*.sql``, bound as ``%(name)s``, which psycopg and
``redshift_connector`` (under the ``pyformat`` style ``sparkify.pipeline.warehouse`` sets)
both take. Only how the loaded objects reach the database differs: PostgreSQL copies them
in, Redshift (no ``COPY FROM STDIN``) inserts them in chunks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from sparkify.pipeline.records import DRIFT_JSON_BYTES, drift_json
from sparkify.pipeline.sql import render, statements
from sparkify.pipeline.staging.objects import SourceObject
from sparkify.pipeline.staging.stats import StageStats

LEDGER_COLUMNS = (
    "dataset",
    "source_key",
    "etag",
    "size_bytes",
    "partition_hour",
    "rows_read",
    "rows_staged",
    "rows_rejected",
    "rows_duplicate",
    "rows_coerced",
)
COUNT_KEYS = ("read", "staged", "rejected", "duplicate", "coerced")
# Objects per multi-row INSERT on Redshift: ten bound values each, well inside a statement.
INSERT_CHUNK = 500


def run(cur: Any, name: str, params: dict[str, Any], dialect: str = "postgres", **ctx: Any):
    """Execute every statement of ``sql/<name>[.<dialect>].sql`` with ``params``."""
    for sql in statements(render(name, dialect, **ctx)):
        cur.execute(sql, params or None)


def _key(dataset: str, hour_value: datetime) -> dict[str, Any]:
    return {"dataset": dataset, "partition_hour": hour_value}


def lock(cur: Any, dialect: str, lock_name: str) -> None:
    """Queue behind every staging run that could touch the same rows (``sql/ledger/lock``)."""
    run(cur, "ledger/lock", {"lock_name": lock_name}, dialect)


def partition_objects(cur: Any, dataset: str, hour_value: datetime) -> dict[str, str]:
    run(cur, "ledger/read_partition_objects", _key(dataset, hour_value))
    return dict(cur.fetchall())


def loaded_objects(
    cur: Any, dataset: str, keys: Sequence[str], dialect: str = "postgres"
) -> dict[str, str]:
    """The ledger's ETag of each of ``keys`` that it holds (at most ``INSERT_CHUNK`` keys)."""
    if not keys:
        return {}
    params = {"dataset": dataset, **{f"key_{i}": key for i, key in enumerate(keys)}}
    run(cur, "ledger/read_loaded_objects", params, dialect, rows=len(keys))
    return dict(cur.fetchall())


def unseen_objects(
    cur: Any, dataset: str, objects: Iterable[SourceObject], dialect: str = "postgres"
) -> list[SourceObject]:
    """The ``objects`` (a listing, consumed as it comes) that the ledger has not loaded, or
    loaded with another ETag, in the order given.

    One ledger lookup by primary key per ``INSERT_CHUNK`` objects: the cost follows the
    listing and what is new, and nothing the size of the ledger is held in memory.
    """
    found: list[SourceObject] = []
    listed = iter(objects)
    while chunk := list(islice(listed, INSERT_CHUNK)):
        done = loaded_objects(cur, dataset, [o.key for o in chunk], dialect)
        found.extend(o for o in chunk if done.get(o.key) != o.etag)
    return found


def ledger_matches(
    cur: Any, dataset: str, objects: list[SourceObject], hour_value: datetime
) -> bool:
    """Whether the ledger holds exactly ``objects`` (keys and ETags) for the partition."""
    return partition_objects(cur, dataset, hour_value) == {o.key: o.etag for o in objects}


def read_partition(cur: Any, stats: StageStats, hour_value: datetime) -> bool:
    """Fill ``stats`` with the partition's recorded counts; False if it has none."""
    run(cur, "ledger/read_partition", _key(stats.dataset, hour_value))
    row = cur.fetchone()
    if row is None:
        return False
    counts = [int(v) for v in row[:6]]
    stats.objects, stats.read, stats.staged, stats.rejected, stats.duplicate, stats.coerced = counts
    stats.drift = json.loads(row[6])
    return True


def restore_if_unchanged(
    cur: Any, stats: StageStats, objects: list[SourceObject], hour_value: datetime
) -> bool:
    """Fill ``stats`` from the partition's record if its objects are unchanged since then."""
    if not ledger_matches(cur, stats.dataset, objects, hour_value):
        return False
    if not read_partition(cur, stats, hour_value):
        return False
    stats.source_keys = [o.key for o in objects]
    stats.unchanged = True
    return True


def keep_or_record_empty(cur: Any, stats: StageStats, hour_value: datetime) -> None:
    """Songs, nothing new: the partition keeps what it recorded before, or is recorded empty."""
    if not read_partition(cur, stats, hour_value):
        write_partition(cur, stats, hour_value)


def forget_partition(cur: Any, dataset: str, hour_value: datetime) -> None:
    """Drop a partition's ledger rows and rejects before it is staged again."""
    run(cur, "ledger/forget_partition", _key(dataset, hour_value))


def write_partition(cur: Any, stats: StageStats, hour_value: datetime) -> None:
    """Replace the partition's row of ``staging_partitions`` with ``stats``."""
    params = {
        **_key(stats.dataset, hour_value),
        "objects": stats.objects,
        "rows_read": stats.read,
        "rows_staged": stats.staged,
        "rows_rejected": stats.rejected,
        "rows_duplicate": stats.duplicate,
        "rows_coerced": stats.coerced,
        "drift": drift_json(stats.drift, DRIFT_JSON_BYTES),
    }
    run(cur, "ledger/write_partition", params)


def write_partition_from_ledger(cur: Any, stats: StageStats, hour_value: datetime) -> None:
    """Songs: the partition's counts are everything the ledger holds for it (re-runs add up)."""
    run(cur, "ledger/sum_partition_objects", _key(stats.dataset, hour_value))
    totals = [int(v) for v in cur.fetchone()]
    snapshot = StageStats(stats.dataset, stats.partition_key, drift=stats.drift)
    (
        snapshot.objects,
        snapshot.read,
        snapshot.staged,
        snapshot.rejected,
        snapshot.duplicate,
        snapshot.coerced,
    ) = totals
    write_partition(cur, snapshot, hour_value)


def ledger_row(
    dataset: str, obj: SourceObject, hour_value: datetime, counts: dict[str, int] | None
) -> tuple[Any, ...]:
    """One ledger row in ``LEDGER_COLUMNS`` order; ``counts`` None where they are unknown."""
    known = counts or {}
    return (
        dataset,
        obj.key,
        obj.etag,
        obj.size,
        hour_value,
        *(known.get(k) for k in COUNT_KEYS),
    )


def write_objects(cur: Any, rows: Sequence[tuple[Any, ...]], dialect: str = "postgres") -> None:
    """Each loaded object (a ``ledger_row``) replaces its ledger row, whatever its partition."""
    if not rows:
        return
    run(cur, "ledger/create_load_objects", {}, dialect)
    if dialect == "redshift":
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            params = {
                f"{column}_{i}": value
                for i, row in enumerate(chunk)
                for column, value in zip(LEDGER_COLUMNS, row, strict=True)
            }
            run(
                cur,
                "ledger/insert_load_objects",
                params,
                dialect,
                columns=LEDGER_COLUMNS,
                rows=len(chunk),
            )
    else:
        (copy_sql,) = statements(render("ledger/copy_load_objects", columns=LEDGER_COLUMNS))
        with cur.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
    run(cur, "ledger/merge_load_objects", {}, dialect, columns=LEDGER_COLUMNS)


def forget_object_rejects(
    cur: Any, dataset: str, keys: Sequence[str], dialect: str = "postgres"
) -> None:
    """Drop the rejects that the objects ``keys`` left when they were loaded before."""
    if not keys:
        return
    if dialect != "redshift":
        run(cur, "ledger/forget_object_rejects", {"dataset": dataset, "keys": list(keys)})
        return
    for start in range(0, len(keys), INSERT_CHUNK):
        chunk = keys[start : start + INSERT_CHUNK]
        params = {"dataset": dataset, **{f"key_{i}": key for i, key in enumerate(chunk)}}
        run(cur, "ledger/forget_object_rejects", params, dialect, rows=len(chunk))
