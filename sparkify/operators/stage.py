"""One staging operator for both data sets: an hour of S3 JSON into a staging table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from sparkify import partitions
from sparkify.settings import AWS_CONN_ID, WAREHOUSE_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

FORMATS = {
    # format: (staging table, data set name)
    "jsonl": ("staging_events", "events"),
    "json_object": ("staging_songs", "songs"),
}


class StageJsonOperator(BaseOperator):
    """Stage the JSON objects of one partition into a staging table.

    ``jsonl`` objects (event logs) replace the partition's rows with every line under the
    hour's prefix; ``json_object`` objects (song files) are loaded when new or changed since
    the load ledger last saw them, wherever they landed. Rejected records go to
    ``staging_rejects`` with their reason. The counts become the outlet Asset event's ``extra``.

    On PostgreSQL the objects are streamed through msgspec into ``COPY ... FROM STDIN``; on
    Redshift, Redshift's own ``COPY ... FORMAT AS JSON`` reads them with the configured IAM role.

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
        format: str,
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

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from sparkify import settings as settings_module
        from sparkify.staging.objects import S3Objects
        from sparkify.warehouse import hook, hook_dialect

        settings = settings_module.current()
        hour = partitions.parse_key(context["dag_run"].partition_key)
        prefix = hour.strftime(self.source_prefix)
        bucket = self.bucket or settings.bucket
        source = S3Objects(S3Hook(aws_conn_id=self.aws_conn_id).get_conn(), bucket)
        objects = source.list(prefix)
        self.log.info("Partition %s: %d object(s) under %s", hour, len(objects), source.uri(prefix))

        db_hook = hook(self.conn_id)
        dialect = hook_dialect(db_hook)
        if dialect == "postgres":
            stats = self._stage_postgres(db_hook, source, objects, hour, settings)
        else:
            from sparkify.staging.redshift import stage_redshift

            stats = stage_redshift(
                db_hook,
                source,
                objects,
                hour,
                prefix,
                dataset=FORMATS[self.format][1],
                settings=settings,
            )
        self.log.info(
            "Staged %s partition %s: read %d, staged %d, rejected %d, duplicate %d, coerced %d",
            stats.dataset,
            stats.partition_key,
            stats.read,
            stats.staged,
            stats.rejected,
            stats.duplicate,
            stats.coerced,
        )
        for reason, count in stats.reasons.most_common(5):
            self.log.warning("Rejected %d record(s): %s", count, reason)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = stats.as_extra()
        return stats.as_extra()

    def _stage_postgres(self, db_hook, source, objects, hour, settings):
        from sparkify.staging import postgres

        conn = db_hook.get_conn()
        try:
            if self.format == "jsonl":
                return postgres.stage_events(
                    conn, source, objects, hour, reject_text_limit=settings.reject_text_limit
                )
            return postgres.stage_songs(
                conn, source, objects, hour, reject_text_limit=settings.reject_text_limit
            )
        finally:
            conn.close()
