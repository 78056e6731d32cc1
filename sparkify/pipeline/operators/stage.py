"""One staging operator for both data sets: an hour of S3 JSON into a staging table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from sparkify.pipeline import partitions
from sparkify.pipeline.settings import AWS_CONN_ID, WAREHOUSE_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

    from sparkify.pipeline.settings import Settings
    from sparkify.pipeline.staging.objects import S3Objects
    from sparkify.pipeline.staging.stats import StageStats

FORMATS = {
    # format: (staging table, data set name)
    "jsonl": ("staging_events", "events"),
    "json_object": ("staging_songs", "songs"),
}


def stage_partition(
    fmt: str,
    hour: datetime,
    prefix: str,
    *,
    source: S3Objects,
    db_hook: Any,
    settings: Settings,
    log: Any,
) -> StageStats:
    """Stage partition ``hour`` of the data set of format ``fmt`` from ``prefix``."""
    from sparkify.pipeline.warehouse import hook_dialect

    objects = source.list(prefix)
    log.info("Partition %s: %d object(s) under %s", hour, len(objects), source.uri(prefix))
    dataset = FORMATS[fmt][1]
    if hook_dialect(db_hook) == "redshift":
        from sparkify.pipeline.staging.redshift import stage_redshift

        return stage_redshift(
            db_hook, source, objects, hour, prefix, dataset=dataset, settings=settings
        )
    from sparkify.pipeline.staging import postgres

    stage = postgres.stage_events if dataset == "events" else postgres.stage_songs
    conn = db_hook.get_conn()
    try:
        return stage(conn, source, objects, hour, reject_text_limit=settings.reject_text_limit)
    finally:
        conn.close()


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
    """Stage the JSON objects of one partition into a staging table.

    ``jsonl`` objects (event logs) replace the partition's rows with every line under the
    hour's prefix; ``json_object`` objects (song files) are loaded when new or changed since
    the load ledger last saw them, wherever they landed. Rejected records go to
    ``staging_rejects`` with their reason. The counts become the outlet Asset event's ``extra``.

    On PostgreSQL the objects are streamed through msgspec into ``COPY ... FROM STDIN``; on
    Redshift, Redshift's own ``COPY`` reads their lines with the configured IAM role, and SQL
    judges them with the same rules.

    :param source_prefix: key prefix, as a strftime pattern of the partition hour
        (``log_data/%Y/%m/%d/%H/``); templated
    :param table: target staging table (``staging_events`` or ``staging_songs``)
    :param format: ``jsonl`` (one record a line) or ``json_object`` (one record a file)
    :param bucket: source bucket; defaults to the environment's settings
    """

    template_fields: Sequence[str] = ("source_prefix", "table", "bucket")
    ui_color = "#e8f4fa"

    def __init__(
        self,
        *,
        source_prefix: str,
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
        self.source_prefix = source_prefix
        self.table = table
        self.format = format
        self.bucket = bucket
        self.conn_id = conn_id
        self.aws_conn_id = aws_conn_id

    def _clients(self) -> tuple[Settings, S3Objects, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from sparkify.pipeline import settings as settings_module
        from sparkify.pipeline.staging.objects import S3Objects
        from sparkify.pipeline.warehouse import hook

        settings = settings_module.current()
        client = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        return settings, S3Objects(client, self.bucket or settings.bucket), hook(self.conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        settings, source, db_hook = self._clients()
        hour = partitions.parse_key(context["dag_run"].partition_key)
        stats = stage_partition(
            self.format,
            hour,
            hour.strftime(self.source_prefix),
            source=source,
            db_hook=db_hook,
            settings=settings,
            log=self.log,
        )
        log_stats(self.log, stats)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = stats.as_extra()
        return stats.as_extra()
