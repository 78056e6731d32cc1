"""Staging into Redshift: Redshift's own ``COPY`` from S3 with an IAM role, judged in SQL.

Every line of the listed objects (a manifest names exactly them) is copied whole into a
one-column temporary table (``sql/staging/copy_lines.redshift.sql``), then read as JSON and
judged field by field in SQL with PostgreSQL staging's rules and reasons
(``check_lines.redshift.sql``): a line cut short is one rejected line, as on PostgreSQL,
where Redshift's JSON COPY would read on into the next lines; coerced values and schema
drift are counted. The lines that pass are moved into place together with the rejects (with
their text; COPY's own refusals from ``stl_load_errors``, or ``sys_load_error_detail`` on
Serverless), the ledger and the partition's counts, in one transaction, which queues first
on the staging lock (``sql/ledger/lock.redshift.sql``) and is run again whole if Redshift
aborts it as a serializable isolation violation. An hour without objects is recorded as
zero rows without a COPY. No access key is ever part of the SQL: Redshift assumes the
configured role.

What this path cannot know, and so does not record (docs/staging.md): which object
and line a staged row or a SQL-rejected row came from (Redshift's COPY does not say), and
so per-object counts in the ledger. A song partition's counts add up over its runs
(PostgreSQL sums its per-object ledger rows, which Redshift cannot fill).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sparkify.pipeline import partitions
from sparkify.pipeline.records import (
    BOM,
    EVENT_COLUMNS,
    EVENT_FIELDS,
    EVENT_REQUIRED,
    FILE_TOO_LARGE,
    INTEGER_BOUNDS,
    MAX_DEPTH,
    MAX_DRIFT_NAME,
    MAX_DRIFT_NAMES,
    MAX_NUMBER_TEXT,
    OTHER_FIELDS,
    SONG_COLUMNS,
    SONG_FIELDS,
    SONG_REQUIRED,
    Drift,
)
from sparkify.pipeline.serialization import retrying
from sparkify.pipeline.settings import Settings, SettingsError
from sparkify.pipeline.sql import render, statements
from sparkify.pipeline.staging import ledger as bookkeeping
from sparkify.pipeline.staging.lines import MAX_LINE_BYTES
from sparkify.pipeline.staging.objects import SourceObject
from sparkify.pipeline.staging.stats import StageStats


def copy_lines_sql(settings: Settings, dataset: str, hour: datetime) -> list[str]:
    """The statements that COPY every line of the objects listed in the manifest of one
    partition (``manifest_location``), whole.

    COPY takes no bound parameters: the settings are validated again here, and the role must
    be set, so that nothing unchecked reaches its SQL text.

    :raises SettingsError: no IAM role, or settings ``Settings.validate`` refuses
    """
    settings.validate()
    if not settings.iam_role:
        raise SettingsError(
            "Redshift's COPY needs an IAM role and redshift.iam_role is empty: set "
            "SPARKIFY_IAM_ROLE (arn:aws:iam::<account>:role/<name>)"
        )
    bucket, key = manifest_location(settings, dataset, hour)
    return statements(
        render(
            "staging/copy_lines",
            "redshift",
            manifest_uri=f"s3://{bucket}/{key}",
            iam_role=settings.iam_role,
            region=settings.region,
            max_errors=settings.max_errors,
        )
    )


def _fields(dataset: str) -> list[tuple[str, str, str, bool]]:
    """(JSON key, column, kind, required) of a data set's fields, in the parser's order."""
    fields, required = (
        (EVENT_FIELDS, EVENT_REQUIRED) if dataset == "events" else (SONG_FIELDS, SONG_REQUIRED)
    )
    return [(key, column, kind, key in required) for key, column, kind in fields]


def check_lines_sql(dataset: str, max_line_bytes: int = MAX_LINE_BYTES) -> list[str]:
    """The statements that read the copied lines as JSON and judge them (``checked_lines``)."""
    return statements(
        render(
            "staging/check_lines",
            DIALECT,
            fields=_fields(dataset),
            bom=BOM.decode(),
            max_line_bytes=max_line_bytes,
            max_depth=MAX_DEPTH,
            max_number_text=MAX_NUMBER_TEXT,
            bounds=INTEGER_BOUNDS,
        )
    )


def insert_checked_rows_sql(dataset: str, widths: dict[str, int]) -> list[str]:
    """The statements that put the lines that passed into ``load_events`` / ``load_songs``."""
    events = dataset == "events"
    table = "staging_events" if events else "staging_songs"
    columns = EVENT_COLUMNS if events else SONG_COLUMNS
    return statements(
        render(
            "staging/insert_checked_rows",
            DIALECT,
            table=table,
            load_table=f"load_{dataset}",
            columns=columns,
            widths=widths,
        )
    )


def manifest(bucket: str, objects: list[SourceObject]) -> dict[str, Any]:
    """A COPY manifest naming exactly ``objects``; every one is mandatory."""
    return {"entries": [{"url": f"s3://{bucket}/{o.key}", "mandatory": True} for o in objects]}


def manifest_location(settings: Settings, dataset: str, hour: datetime) -> tuple[str, str]:
    """The bucket and key of the manifest of one partition's COPY, under the settings'
    ``manifests`` (``Settings``: ``manifest_prefix``, and who may write there).

    :raises ValueError: a data set other than ``events`` or ``songs``, quoted
    """
    if dataset not in ("events", "songs"):
        raise ValueError(f"no manifest for data set {dataset!r}: events or songs")
    bucket, prefix = settings.manifests
    return bucket, f"{prefix}{dataset}/{hour:%Y/%m/%d/%H}.manifest"


DIALECT = "redshift"
log = logging.getLogger(__name__)


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
    from sparkify.pipeline.warehouse import bind_named_parameters, is_serverless

    bind_named_parameters()  # our SQL binds values as %(name)s: see sparkify.pipeline.warehouse
    serverless = is_serverless(db_hook)
    key = partitions.format_key(hour)
    return retrying(
        lambda: _stage_once(
            db_hook, source, objects, hour, prefix, dataset, settings, serverless=serverless
        ),
        what=f"staging {dataset} {key}",
        logger=log,
    )


def _stage_once(
    db_hook: Any,
    source: Any,
    objects: list[SourceObject],
    hour: datetime,
    prefix: str,
    dataset: str,
    settings: Settings,
    *,
    serverless: bool,
) -> StageStats:
    stats = StageStats(dataset, partitions.format_key(hour))
    params = {
        "partition_hour": partitions.naive_utc(hour),
        "dataset": dataset,
        "source_key": prefix,
        # COPY's error tables name a file by its URL: the key starts after s3://bucket/.
        "key_starts_at": len(f"s3://{settings.bucket}/") + 1,
    }
    conn = db_hook.get_conn()
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            bookkeeping.lock(cur, DIALECT, "staging")  # first: before the snapshot is taken
            stage = _stage_songs if dataset == "songs" else _stage_events
            stage(cur, source, objects, hour, params, settings, stats, serverless)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    return stats


def _put_manifest(
    source: Any, settings: Settings, dataset: str, hour: datetime, objects: list[SourceObject]
) -> None:
    bucket, key = manifest_location(settings, dataset, hour)
    body = json.dumps(manifest(settings.bucket, objects)).encode()
    try:
        source.client.put_object(Bucket=bucket, Key=key, Body=body)
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") != "NoSuchBucket":
            raise
        raise SettingsError(
            f"the manifest bucket {bucket!r} (manifest_prefix {settings.manifest_prefix!r}) "
            "does not exist"
        ) from exc


def _load(
    cur: Any,
    source: Any,
    objects: list[SourceObject],
    hour: datetime,
    params: dict[str, Any],
    settings: Settings,
    stats: StageStats,
    serverless: bool,
) -> int:
    """COPY the objects' lines, judge them, keep the rejects and fill ``load_<dataset>``.

    Fills ``stats``' read, rejected, coerced, reasons and drift; returns how many lines passed.
    """
    dataset = params["dataset"]
    _put_manifest(source, settings, dataset, hour, objects)
    for sql in copy_lines_sql(settings, dataset, hour):
        cur.execute(sql)
    for sql in statements(render("staging/record_copy_rejects", DIALECT, serverless=serverless)):
        cur.execute(sql, params)
    for sql in check_lines_sql(dataset, settings.max_line_bytes):
        cur.execute(sql)
    bookkeeping.run(
        cur, "staging/record_rejects", params, DIALECT, raw_text_bytes=settings.reject_text_limit
    )
    bookkeeping.run(cur, "staging/read_line_counts", {}, DIALECT)
    passed = 0
    for reason, count, coerced in cur.fetchall():
        stats.read += int(count)
        if reason is None:
            passed = int(count)
            stats.coerced = int(coerced or 0)
        else:
            stats.rejected += int(count)
            stats.reasons[reason] += int(count)
    stats.drift = _drift(cur, dataset)
    table = "staging_events" if dataset == "events" else "staging_songs"
    bookkeeping.run(cur, "staging/read_text_widths", {"table": table}, DIALECT)
    widths = {name: int(width) for name, width in cur.fetchall()}
    for sql in insert_checked_rows_sql(dataset, widths):
        cur.execute(sql)
    return passed


def _drift(cur: Any, dataset: str) -> dict[str, dict[str, int]]:
    """Fields absent and attributes unmapped among the lines that passed, as PostgreSQL's."""
    fields = _fields(dataset)
    absent_sql, unmapped_sql, total_sql = statements(
        render(
            "staging/read_drift",
            DIALECT,
            fields=fields,
            max_names=MAX_DRIFT_NAMES,
            name_chars=MAX_DRIFT_NAME,
        )
    )
    cur.execute(absent_sql)
    row = cur.fetchone() or ()
    absent = {key: int(n) for (key, _, _, _), n in zip(fields, row, strict=False) if n}
    cur.execute(unmapped_sql)
    bounded = Drift()  # at most MAX_DRIFT_NAMES names, each cut, as PostgreSQL keeps them
    for name, n in cur.fetchall():
        bounded.add_unmapped(str(name), int(n))
    cur.execute(total_sql)
    rest = int((cur.fetchone() or (0,))[0] or 0) - sum(bounded.unmapped.values())
    if rest > 0:
        bounded.unmapped[OTHER_FIELDS] += rest
    return {"unmapped": dict(bounded.unmapped), "absent": absent}


def _stage_events(
    cur: Any,
    source: Any,
    objects: list[SourceObject],
    hour: datetime,
    params: dict[str, Any],
    settings: Settings,
    stats: StageStats,
    serverless: bool,
) -> None:
    hour_value = params["partition_hour"]
    if bookkeeping.restore_if_unchanged(cur, stats, objects, hour_value):
        return
    # The ledger and the rejects are replaced per partition, as on PostgreSQL: a removed
    # object leaves the ledger.
    bookkeeping.forget_partition(cur, "events", hour_value)
    if objects:
        passed = _load(cur, source, objects, hour, params, settings, stats, serverless)
        merge = render("staging/replace_events_partition", DIALECT, columns=EVENT_COLUMNS)
        for sql in statements(merge):
            cur.execute(sql, params)
        stats.staged = max(cur.rowcount, 0)
    else:
        # Nothing to COPY (and COPY of nothing fails): the partition now holds no event.
        bookkeeping.run(cur, "staging/clear_events_partition", params, DIALECT)
        passed = 0
    _account(stats, objects, passed)
    _write_ledger(cur, "events", objects, hour_value)
    bookkeeping.write_partition(cur, stats, hour_value)


def _stage_songs(
    cur: Any,
    source: Any,
    objects: list[SourceObject],
    hour: datetime,
    params: dict[str, Any],
    settings: Settings,
    stats: StageStats,
    serverless: bool,
) -> None:
    hour_value = params["partition_hour"]
    objects = bookkeeping.unseen_objects(cur, "songs", objects, DIALECT)
    if not objects:
        bookkeeping.keep_or_record_empty(cur, stats, hour_value)
        return
    bookkeeping.forget_object_rejects(cur, "songs", [o.key for o in objects], DIALECT)
    # Files over the limit are never read: rejected by their listed size, as on PostgreSQL.
    loaded = [o for o in objects if o.size <= settings.max_song_file_bytes]
    _reject_files(cur, [o for o in objects if o.size > settings.max_song_file_bytes], params, stats)
    passed = 0
    if loaded:
        passed = _load(cur, source, loaded, hour, params, settings, stats, serverless)
        for sql in statements(render("staging/merge_songs", DIALECT, columns=SONG_COLUMNS)):
            cur.execute(sql, params)
        stats.staged = max(cur.rowcount, 0)
        # The picks model matches plays with, for the triples just merged: in this transaction.
        for sql in statements(render("staging/merge_song_picks", DIALECT)):
            cur.execute(sql)
    _account(stats, objects, passed)
    _write_ledger(cur, "songs", objects, hour_value)
    # What earlier runs of this hour loaded stays counted: PostgreSQL sums its ledger rows.
    before = StageStats("songs", stats.partition_key)
    if bookkeeping.read_partition(cur, before, hour_value):
        total = StageStats("songs", stats.partition_key, drift=stats.drift)
        for name in ("objects", "read", "staged", "rejected", "duplicate", "coerced"):
            setattr(total, name, getattr(before, name) + getattr(stats, name))
        bookkeeping.write_partition(cur, total, hour_value)
    else:
        bookkeeping.write_partition(cur, stats, hour_value)


def _reject_files(
    cur: Any, objects: list[SourceObject], params: dict[str, Any], stats: StageStats
) -> None:
    """Song files larger than ``max_song_file_bytes``: one reject each, unread."""
    for obj in objects:
        row = {**params, "source_key": obj.key, "reason": FILE_TOO_LARGE}
        bookkeeping.run(cur, "staging/record_file_reject", row, DIALECT)
    stats.read += len(objects)
    stats.rejected += len(objects)
    if objects:
        stats.reasons[FILE_TOO_LARGE] += len(objects)


def _account(stats: StageStats, objects: list[SourceObject], passed: int) -> None:
    """The counts ``_load`` left out: objects, keys, and the lines the merge left out."""
    stats.objects = len(objects)
    stats.source_keys = [o.key for o in objects]
    # Lines that passed but the merge left out, as copies of another event or song.
    stats.duplicate = passed - stats.staged


def _write_ledger(
    cur: Any, dataset: str, objects: list[SourceObject], hour_value: datetime
) -> None:
    """The objects loaded; COPY cannot say what each object held, so no per-object counts."""
    rows = [bookkeeping.ledger_row(dataset, obj, hour_value, None) for obj in objects]
    bookkeeping.write_objects(cur, rows, DIALECT)
