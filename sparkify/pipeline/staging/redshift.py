"""Staging into Redshift: Redshift's own ``COPY ... FORMAT AS JSON`` with an IAM role.

The objects are copied into a temporary table, then moved into place together with the
rejects (from ``stl_load_errors``), the ledger and the partition's counts, in one
transaction. No access key is ever part of the SQL: Redshift assumes the configured role.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sparkify.pipeline import partitions
from sparkify.pipeline.records import EVENT_COLUMNS, SONG_COLUMNS
from sparkify.pipeline.settings import Settings
from sparkify.pipeline.sql import render, statements
from sparkify.pipeline.staging.objects import SourceObject
from sparkify.pipeline.staging.stats import StageStats


def copy_events_sql(settings: Settings, prefix: str) -> list[str]:
    """The statements that COPY one hour's prefix into ``load_events``."""
    return statements(
        render(
            "staging/copy_events",
            "redshift",
            columns=EVENT_COLUMNS,
            source_uri=f"s3://{settings.bucket}/{prefix}",
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
    """Stage one partition of ``dataset`` on Redshift; returns its counts."""
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
                cur.execute("SELECT source_key, etag FROM load_ledger WHERE dataset = 'songs'")
                done = dict(cur.fetchall())
                objects = [o for o in objects if done.get(o.key) != o.etag]
                if not objects:
                    conn.commit()
                    return stats
                manifest_key = f"_manifests/songs/{hour:%Y/%m/%d/%H}.manifest"
                source.client.put_object(
                    Bucket=settings.bucket,
                    Key=manifest_key,
                    Body=json.dumps(manifest(settings.bucket, objects)).encode(),
                )
                copy_sql = copy_songs_sql(settings, manifest_key)
                merge = render("staging/merge_songs", "redshift", columns=SONG_COLUMNS)
            else:
                copy_sql = copy_events_sql(settings, prefix)
                merge = render(
                    "staging/replace_events_partition", "redshift", columns=EVENT_COLUMNS
                )
                cur.execute(
                    "DELETE FROM staging_rejects WHERE dataset = 'events' "
                    "AND partition_hour = %(partition_hour)s",
                    params,
                )
            for sql in copy_sql:
                cur.execute(sql)
            cur.execute("SELECT pg_last_copy_count()")
            copied = int(cur.fetchone()[0])
            (rejects_sql,) = statements(render("staging/record_copy_rejects", "redshift"))
            cur.execute(rejects_sql, params)
            stats.rejected = max(cur.rowcount, 0)
            for sql in statements(merge):
                cur.execute(sql, params)
            stats.staged = max(cur.rowcount, 0)
            stats.objects = len(objects)
            stats.read = copied + stats.rejected
            stats.source_keys = [o.key for o in objects]
            # Rows COPY accepted but the merge refused (a required value null) or deduplicated.
            stats.duplicate = copied - stats.staged
            for obj in objects:
                cur.execute(
                    "DELETE FROM load_ledger WHERE dataset = %(dataset)s AND source_key = %(key)s",
                    {"dataset": dataset, "key": obj.key},
                )
                cur.execute(
                    "INSERT INTO load_ledger "
                    "(dataset, source_key, etag, size_bytes, partition_hour) "
                    "VALUES (%(dataset)s, %(key)s, %(etag)s, %(size)s, %(partition_hour)s)",
                    {
                        "dataset": dataset,
                        "key": obj.key,
                        "etag": obj.etag,
                        "size": obj.size,
                        "partition_hour": hour_value,
                    },
                )
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
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    return stats
