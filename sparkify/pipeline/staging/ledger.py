"""The load ledger, read the same way on both warehouses: has a partition's set of objects changed?

Plain DB-API with ``%s`` placeholders, which psycopg and ``redshift_connector`` (under the
``pyformat`` style ``sparkify.pipeline.warehouse`` sets) both bind.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sparkify.pipeline.staging.objects import SourceObject
from sparkify.pipeline.staging.stats import StageStats


def ledger_matches(
    cur: Any, dataset: str, objects: list[SourceObject], hour_value: datetime
) -> bool:
    """Whether the ledger holds exactly ``objects`` (keys and ETags) for the partition."""
    cur.execute(
        "SELECT source_key, etag FROM load_ledger WHERE dataset = %s AND partition_hour = %s",
        (dataset, hour_value),
    )
    return dict(cur.fetchall()) == {o.key: o.etag for o in objects}


def restore_if_unchanged(
    cur: Any, stats: StageStats, objects: list[SourceObject], hour_value: datetime
) -> bool:
    """Fill ``stats`` from the partition's record if its objects are unchanged since then."""
    if not ledger_matches(cur, stats.dataset, objects, hour_value):
        return False
    cur.execute(
        "SELECT objects, rows_read, rows_staged, rows_rejected, rows_duplicate, rows_coerced, "
        "drift FROM staging_partitions WHERE dataset = %s AND partition_hour = %s",
        (stats.dataset, hour_value),
    )
    row = cur.fetchone()
    if row is None:
        return False
    (stats.objects, stats.read, stats.staged, stats.rejected, stats.duplicate, stats.coerced) = row[
        :6
    ]
    stats.drift = json.loads(row[6])
    stats.source_keys = [o.key for o in objects]
    stats.unchanged = True
    return True
