"""One staging operator for both data sets: a window of hours of S3 JSON into staging."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from sparkify.pipeline import partitions
from sparkify.pipeline.settings import AWS_CONN_ID, WAREHOUSE_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

    from sparkify.pipeline.settings import Settings
    from sparkify.pipeline.staging.objects import S3Objects, SourceObject
    from sparkify.pipeline.staging.stats import StageStats

FORMATS = {
    # format: (staging table, data set name)
    "jsonl": ("staging_events", "events"),
    "json_object": ("staging_songs", "songs"),
}


def source_pattern(fmt: str, settings: Settings) -> str:
    """Where the objects of the data set of format ``fmt`` land, as a strftime pattern of the
    partition hour, from the settings: an hour's events under
    ``<events_prefix>/%Y/%m/%d/%H/``, song files anywhere under ``<songs_prefix>/``."""
    if FORMATS[fmt][1] == "events":
        return settings.events_hour_pattern
    return settings.songs_root.replace("%", "%%")


def stage_partition(
    fmt: str,
    hour: datetime,
    prefix: str,
    *,
    source: S3Objects,
    db_hook: Any,
    settings: Settings,
    log: Any,
    objects: Iterable[SourceObject] | None = None,
    conn: Any = None,
) -> StageStats:
    """Stage partition ``hour`` of the data set of format ``fmt`` from ``prefix``.

    ``objects``: what is under ``prefix``, when the caller has listed it already (for song
    files, a ``Listing`` that is filtered against the ledger as it comes). ``conn``: an
    open PostgreSQL connection to stage through (a window's hours share one), else one is
    opened and closed here.
    """
    from sparkify.pipeline.warehouse import hook_dialect

    if objects is None:
        objects = source.list(prefix)
    if isinstance(objects, list):
        log.info("Partition %s: %d object(s) under %s", hour, len(objects), source.uri(prefix))
    else:
        log.info("Partition %s: the new or changed objects under %s", hour, source.uri(prefix))
    dataset = FORMATS[fmt][1]
    if hook_dialect(db_hook) == "redshift":
        from sparkify.pipeline.staging.redshift import stage_redshift

        return stage_redshift(
            db_hook, source, objects, hour, prefix, dataset=dataset, settings=settings
        )
    from sparkify.pipeline.staging import postgres

    stage = postgres.stage_events if dataset == "events" else postgres.stage_songs
    limits = postgres.Limits.of(settings)
    if conn is not None:
        return stage(conn, source, objects, hour, limits=limits)
    with contextlib.closing(db_hook.get_conn()) as own:
        return stage(own, source, objects, hour, limits=limits)


def stage_window(
    fmt: str,
    window: partitions.Window,
    pattern: str,
    *,
    source: S3Objects,
    db_hook: Any,
    settings: Settings,
    log: Any,
    song_keys: Sequence[str] | None = None,
) -> list[StageStats]:
    """Stage every hour of ``window``, each in its own transaction, as hourly runs would.

    Events: each hour from its own prefix (``pattern``), listed once a day. Songs carry no
    event time: their new or changed files are loaded under the window's first hour (as the
    first of a series of hourly runs would), and every later hour is recorded with nothing
    new. Which files: ``song_keys`` when bucket notifications announced them (no listing),
    else whatever a listing of the songs' root finds that the ledger has not loaded. A
    failure stops at the hour it hit: the hours before it are staged and recorded, and a
    re-run finds them unchanged in the ledger.
    """
    from sparkify.pipeline.staging.objects import Listing, announced
    from sparkify.pipeline.staging.window import list_hours, record_quiet_hours
    from sparkify.pipeline.warehouse import hook_dialect

    hours = window.hours()
    quiet: Sequence[datetime] = ()
    if fmt == "jsonl":
        listed = list_hours(source, pattern, hours)
    else:
        prefix = window.start.strftime(pattern)
        if song_keys is None:
            listed = {hours[0]: Listing(source, prefix)}
        else:
            listed = {hours[0]: announced(source, song_keys, prefix)}
            log.info("%d song file(s) announced by bucket notifications", len(song_keys))
        hours, quiet = hours[:1], hours[1:]
    dialect = hook_dialect(db_hook)
    results = []
    # PostgreSQL: one connection for the window's hours (each still its own transaction);
    # a connection per hour was a tenth of a month's staging time.
    shared = db_hook.get_conn() if dialect == "postgres" else None
    with contextlib.closing(shared) if shared is not None else contextlib.nullcontext():
        for hour in hours:
            stats = stage_partition(
                fmt,
                hour,
                hour.strftime(pattern),
                source=source,
                db_hook=db_hook,
                settings=settings,
                log=log,
                objects=listed[hour],
                conn=shared,
            )
            log_stats(log, stats)
            results.append(stats)
        if quiet:
            results += record_quiet_hours(
                FORMATS[fmt][1], quiet, db_hook=db_hook, dialect=dialect, conn=shared
            )
            log.info(
                "Recorded %d later hour(s) of the window, %s .. %s, with no new song file",
                len(quiet),
                partitions.format_key(quiet[0]),
                partitions.format_key(quiet[-1]),
            )
    return results


def log_stats(log: Any, stats: StageStats) -> None:
    log.info(
        "Staged %s partition %s%s: read %d, staged %d, rejected %d, duplicate %d, coerced %d",
        stats.dataset,
        stats.partition_key,
        " (objects unchanged, nothing reloaded)" if stats.unchanged else "",
        stats.read,
        stats.staged,
        stats.rejected,
        stats.duplicate,
        stats.coerced,
    )
    for reason, count in stats.reasons.most_common(5):
        log.warning("Rejected %d record(s): %s", count, reason)


class StageJsonOperator(BaseOperator):
    """Stage the JSON objects of the run's window (an hour, or a range of hours) into a table.

    Every hour of the window is staged on its own (``stage_window``), so the load ledger,
    ``staging_partitions`` and ``staging_rejects`` hold the same per-hour rows whatever
    window staged the hour; the outlet Asset event carries the window's key and totals.

    ``jsonl`` objects (event logs) replace the partition's rows with every line under the
    hour's prefix; ``json_object`` objects (song files) are loaded when new or changed since
    the load ledger last saw them, wherever they landed under the songs' root. Where both
    are comes from the settings at run time (``events_prefix``, ``songs_prefix``:
    ``source_pattern``), as for every reader of the bucket. Rejected records go to
    ``staging_rejects`` with their reason. The counts become the outlet Asset event's ``extra``.

    On PostgreSQL the objects are streamed through msgspec into ``COPY ... FROM STDIN``; on
    Redshift, Redshift's own ``COPY`` reads their lines with the configured IAM role, and SQL
    judges them with the same rules.

    :param table: target staging table (``staging_events`` or ``staging_songs``)
    :param format: ``jsonl`` (one record a line) or ``json_object`` (one record a file)
    :param bucket: source bucket; defaults to the environment's settings
    """

    template_fields: Sequence[str] = ("table", "bucket")
    ui_color = "#e8f4fa"

    def __init__(
        self,
        *,
        table: str,
        format: str,  # shadows the builtin: the parameter's documented name
        bucket: str | None = None,
        conn_id: str = WAREHOUSE_CONN_ID,
        aws_conn_id: str = AWS_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if format not in FORMATS:
            raise ValueError(f"format must be one of {sorted(FORMATS)}, not {format!r}")
        if FORMATS[format][0] != table:
            raise ValueError(f"format {format!r} stages into {FORMATS[format][0]}, not {table!r}")
        self.table = table
        self.format = format
        self.bucket = bucket
        self.conn_id = conn_id
        self.aws_conn_id = aws_conn_id

    def _clients(self) -> tuple[Settings, S3Objects, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.config import Config

        from sparkify.pipeline import settings as settings_module
        from sparkify.pipeline.staging.objects import POOL_CONNECTIONS, S3Objects
        from sparkify.pipeline.warehouse import hook

        settings = settings_module.current()
        s3 = S3Hook(aws_conn_id=self.aws_conn_id)
        # The connection's own botocore config, with a connection for each fetching thread.
        pooled = s3.config.merge(Config(max_pool_connections=POOL_CONNECTIONS))
        client = s3.get_client_type(config=pooled)
        return settings, S3Objects(client, self.bucket or settings.bucket), hook(self.conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from sparkify.pipeline.staging.window import combine

        window = partitions.parse_window(context["dag_run"].partition_key)
        settings, source, db_hook = self._clients()
        per_hour = stage_window(
            self.format,
            window,
            source_pattern(self.format, settings),
            source=source,
            db_hook=db_hook,
            settings=settings,
            log=self.log,
            song_keys=self._announced(context) if self.format == "json_object" else None,
        )
        stats = combine(FORMATS[self.format][1], context["dag_run"].partition_key, per_hour)
        if len(per_hour) > 1:
            log_stats(self.log, stats)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = stats.as_extra()
        return stats.as_extra()

    @staticmethod
    def _announced(context: Context) -> list[str] | None:
        """The song files the run's triggering ``landed`` events announce, if all do."""
        from sparkify.pipeline.notifications import announced_song_keys

        triggering = context.get("triggering_asset_events") or {}
        return announced_song_keys(
            event.extra for asset in triggering for event in triggering[asset]
        )
