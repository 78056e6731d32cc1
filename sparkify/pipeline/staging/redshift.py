"""Staging into Redshift: Redshift's own ``COPY ... FORMAT AS JSON`` with an IAM role.

The listed objects (a manifest names exactly them) are copied into a temporary table; the
rows COPY loaded but PostgreSQL's staging would reject (a required value missing, an object
where text belongs) are rejected in SQL with PostgreSQL's reasons; the rest are moved into
place together with the rejects (COPY's own from ``stl_load_errors``), the ledger and the
partition's counts, in one transaction. An hour without objects is recorded as zero rows
without a COPY. No access key is ever part of the SQL: Redshift assumes the configured role.

What this path cannot know, and so does not record (README, staging rules): which object
and line a staged row or a SQL-rejected row came from, per-object counts in the ledger,
coerced values and schema drift.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sparkify.pipeline import partitions
from sparkify.pipeline.records import (
    EVENT_COLUMNS,
    EVENT_FIELDS,
    EVENT_REQUIRED,
    SONG_COLUMNS,
    SONG_FIELDS,
    SONG_REQUIRED,
)
from sparkify.pipeline.settings import Settings
from sparkify.pipeline.sql import render, statements
from sparkify.pipeline.staging.ledger import restore_if_unchanged
from sparkify.pipeline.staging.objects import SourceObject
from sparkify.pipeline.staging.stats import StageStats


def copy_events_sql(settings: Settings, manifest_key: str) -> list[str]:
    """The statements that COPY the event objects listed in a manifest into ``load_events``."""
    return statements(
        render(
            "staging/copy_events",
            "redshift",
            columns=EVENT_COLUMNS,
            manifest_uri=f"s3://{settings.bucket}/{manifest_key}",
            jsonpaths_uri=f"s3://{settings.bucket}/{settings.jsonpaths_key}",
            iam_role=settings.iam_role,
            region=settings.region,
            max_errors=settings.max_errors,
        )
    )


def copy_songs_sql(settings: Settings, manifest_key: str) -> list[str]:
    """The statements that COPY the song files listed in a manifest into ``load_songs``."""
    return statements(
        render(
            "staging/copy_songs",
            "redshift",
            columns=SONG_COLUMNS,
            manifest_uri=f"s3://{settings.bucket}/{manifest_key}",
            iam_role=settings.iam_role,
            region=settings.region,
            max_errors=settings.max_errors,
        )
    )


def manifest(bucket: str, objects: list[SourceObject]) -> dict[str, Any]:
    """A COPY manifest naming exactly ``objects``; every one is mandatory."""
    return {"entries": [{"url": f"s3://{bucket}/{o.key}", "mandatory": True} for o in objects]}


def manifest_key(dataset: str, hour: datetime) -> str:
    """Where the manifest of one partition's COPY is written (outside every data prefix)."""
    return f"_manifests/{dataset}/{hour:%Y/%m/%d/%H}.manifest"


def stage_redshift(
    db_hook: Any,
    source: Any,
    objects: list[SourceObject],
    hour: datetime,
    prefix: str,
    *,
    dataset: str,
    settings: Settings,
) -> StageStats:
    """Stage one partition of ``dataset`` on Redshift; returns its counts.

    COPY reads exactly ``objects`` (the listing's ``*.json``) through a manifest, never the
    prefix: Redshift's COPY fails when a prefix matches nothing, and would read every other
    object under it. An hour without objects is staged as zero rows without any COPY, and an
    hour whose objects (keys and ETags) are what the ledger recorded is not reloaded, as on
    PostgreSQL.
    """
    from sparkify.pipeline.warehouse import bind_named_parameters

    bind_named_parameters()  # our SQL binds values as %(name)s: see sparkify.pipeline.warehouse
    stats = StageStats(dataset, partitions.format_key(hour))
    hour_value = partitions.naive_utc(hour)
    params = {"partition_hour": hour_value, "dataset": dataset, "source_key": prefix}
    conn = db_hook.get_conn()
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            if dataset == "songs":
                _stage_songs(cur, source, objects, hour, params, settings, stats)
            else:
                _stage_events(cur, source, objects, hour, params, settings, stats)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    return stats


def _put_manifest(source: Any, settings: Settings, key: str, objects: list[SourceObject]) -> None:
    body = json.dumps(manifest(settings.bucket, objects)).encode()
    source.client.put_object(Bucket=settings.bucket, Key=key, Body=body)


def _copy(cur: Any, copy_sql: list[str], params: dict[str, Any], stats: StageStats) -> int:
    """Run the COPY statements and record what COPY refused; returns the rows it loaded."""
    for sql in copy_sql:
        cur.execute(sql)
    cur.execute("SELECT pg_last_copy_count()")
    copied = int(cur.fetchone()[0])
    (rejects_sql,) = statements(render("staging/record_copy_rejects", "redshift"))
    cur.execute(rejects_sql, params)
    stats.rejected = max(cur.rowcount, 0)
    return copied


def invalid_rows_sql(dataset: str) -> list[str]:
    """The INSERT of the loaded rows PostgreSQL would reject, and their DELETE."""
    fields, required, table = (
        (EVENT_FIELDS, EVENT_REQUIRED, "load_events")
        if dataset == "events"
        else (SONG_FIELDS, SONG_REQUIRED, "load_songs")
    )
    return statements(
        render(
            "staging/reject_invalid_rows",
            "redshift",
            table=table,
            fields=[(key, column, kind, key in required) for key, column, kind in fields],
        )
    )


def _reject_invalid(cur: Any, params: dict[str, Any]) -> int:
    """Reject the loaded rows PostgreSQL's staging would reject; returns how many."""
    insert_sql, delete_sql = invalid_rows_sql(params["dataset"])
    cur.execute(insert_sql, params)
    rejected = max(cur.rowcount, 0)
    cur.execute(delete_sql)
    return rejected


def _stage_events(
    cur: Any,
    source: Any,
    objects: list[SourceObject],
    hour: datetime,
    params: dict[str, Any],
    settings: Settings,
    stats: StageStats,
) -> None:
    hour_value = params["partition_hour"]
    if restore_if_unchanged(cur, stats, objects, hour_value):
        return
    cur.execute(
        "DELETE FROM staging_rejects WHERE dataset = 'events' "
        "AND partition_hour = %(partition_hour)s",
        params,
    )
    if objects:
        key = manifest_key("events", hour)
        _put_manifest(source, settings, key, objects)
        copied = _copy(cur, copy_events_sql(settings, key), params, stats)
        missing = _reject_invalid(cur, params)
        merge = render("staging/replace_events_partition", "redshift", columns=EVENT_COLUMNS)
        for sql in statements(merge):
            cur.execute(sql, params)
        stats.staged = max(cur.rowcount, 0)
    else:
        # Nothing to COPY (and COPY of nothing fails): the partition now holds no event.
        cur.execute("DELETE FROM staging_events WHERE partition_hour = %(partition_hour)s", params)
        copied = missing = 0
    _account(stats, objects, copied, missing)
    # The ledger is replaced per partition, as on PostgreSQL: a removed object leaves it.
    cur.execute(
        "DELETE FROM load_ledger WHERE dataset = 'events' AND partition_hour = %(partition_hour)s",
        params,
    )
    _write_ledger(cur, "events", objects, hour_value)
    _write_partition(cur, params, stats)


def _stage_songs(
    cur: Any,
    source: Any,
    objects: list[SourceObject],
    hour: datetime,
    params: dict[str, Any],
    settings: Settings,
    stats: StageStats,
) -> None:
    hour_value = params["partition_hour"]
    cur.execute("SELECT source_key, etag FROM load_ledger WHERE dataset = 'songs'")
    done = dict(cur.fetchall())
    objects = [o for o in objects if done.get(o.key) != o.etag]
    if not objects:
        # Nothing new: the partition keeps what it recorded before, or is recorded empty.
        cur.execute(
            "SELECT objects, rows_read, rows_staged, rows_rejected, rows_duplicate, "
            "rows_coerced FROM staging_partitions WHERE dataset = 'songs' "
            "AND partition_hour = %(partition_hour)s",
            params,
        )
        before = cur.fetchone()
        if before is None:
            _write_partition(cur, params, stats)
        else:
            (
                stats.objects,
                stats.read,
                stats.staged,
                stats.rejected,
                stats.duplicate,
                stats.coerced,
            ) = (int(v) for v in before)
        return
    key = manifest_key("songs", hour)
    _put_manifest(source, settings, key, objects)
    copied = _copy(cur, copy_songs_sql(settings, key), params, stats)
    missing = _reject_invalid(cur, params)
    for sql in statements(render("staging/merge_songs", "redshift", columns=SONG_COLUMNS)):
        cur.execute(sql, params)
    stats.staged = max(cur.rowcount, 0)
    _account(stats, objects, copied, missing)
    _write_ledger(cur, "songs", objects, hour_value)
    _write_partition(cur, params, stats)


def _account(stats: StageStats, objects: list[SourceObject], copied: int, missing: int) -> None:
    """``stats.rejected`` holds COPY's refusals; ``missing``: loaded rows rejected after."""
    stats.objects = len(objects)
    stats.read = copied + stats.rejected
    stats.rejected += missing
    stats.source_keys = [o.key for o in objects]
    # Rows COPY loaded, complete, that the merge left out as copies of another event.
    stats.duplicate = copied - missing - stats.staged


def _write_ledger(
    cur: Any, dataset: str, objects: list[SourceObject], hour_value: datetime
) -> None:
    for obj in objects:
        row = {
            "dataset": dataset,
            "key": obj.key,
            "etag": obj.etag,
            "size": obj.size,
            "partition_hour": hour_value,
        }
        cur.execute(
            "DELETE FROM load_ledger WHERE dataset = %(dataset)s AND source_key = %(key)s", row
        )
        cur.execute(
            "INSERT INTO load_ledger (dataset, source_key, etag, size_bytes, partition_hour) "
            "VALUES (%(dataset)s, %(key)s, %(etag)s, %(size)s, %(partition_hour)s)",
            row,
        )


def _write_partition(cur: Any, params: dict[str, Any], stats: StageStats) -> None:
    cur.execute(
        "DELETE FROM staging_partitions WHERE dataset = %(dataset)s "
        "AND partition_hour = %(partition_hour)s",
        params,
    )
    cur.execute(
        "INSERT INTO staging_partitions (dataset, partition_hour, objects, rows_read, "
        "rows_staged, rows_rejected, rows_duplicate, rows_coerced, drift) VALUES "
        "(%(dataset)s, %(partition_hour)s, %(objects)s, %(read)s, %(staged)s, "
        "%(rejected)s, %(duplicate)s, 0, '{}')",
        {
            **params,
            "objects": stats.objects,
            "read": stats.read,
            "staged": stats.staged,
            "rejected": stats.rejected,
            "duplicate": stats.duplicate,
        },
    )
