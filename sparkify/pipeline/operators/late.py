"""Late data: objects that land in an hour's prefix after that hour was staged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from sparkify.pipeline import partitions
from sparkify.pipeline.operators.stage import (
    StageJsonOperator,
    log_stats,
    source_pattern,
    stage_partition,
)

if TYPE_CHECKING:
    from datetime import datetime

    from airflow.sdk import Context


def reference_hour(context: Context) -> datetime:
    """The hour a run looks back from: its partition key's, else its logical date's hour."""
    run = context["dag_run"]
    if run.partition_key:
        return partitions.parse_key(run.partition_key)
    when = context.get("logical_date") or run.run_after
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class RestageLateHoursOperator(StageJsonOperator):
    """Find staged hours whose objects changed since, re-stage them, and re-fire their chain.

    Looks at the run's hour (its partition key, or else the hour of its logical date) and the
    ``lookback_hours`` (default from settings) before it. An hour is late when it was staged
    before and its prefix now holds other objects (new keys, or other ETags) than the load
    ledger recorded. Each late hour is staged again (events, and
    any new songs), then this task emits ``staged_events`` and ``staged_songs`` for exactly
    those partition keys, so ``model`` and ``quality`` run again for them by themselves.
    With nothing late the task is skipped and emits nothing. The hours' prefixes and the
    songs' root come from the settings, as for staging (``source_pattern``).

    :param lookback_hours: how far back to look; templated
    """

    template_fields: Sequence[str] = (*StageJsonOperator.template_fields, "lookback_hours")

    def __init__(self, *, lookback_hours: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("table", "staging_events")
        kwargs.setdefault("format", "jsonl")
        super().__init__(**kwargs)
        self.lookback_hours = lookback_hours

    def execute(self, context: Context) -> dict[str, Any]:
        settings, source, db_hook = self._clients()
        events_pattern = source_pattern("jsonl", settings)
        hour = reference_hour(context)
        lookback = int(self.lookback_hours or settings.late_lookback_hours)
        late = self.find_late_hours(hour, lookback, source, db_hook, events_pattern)
        if not late:
            raise AirflowSkipException(
                f"no late objects in {partitions.format_key(hour)} "
                f"or the {lookback} hours before it"
            )
        keys = [partitions.format_key(h) for h in late]
        self.log.warning("Late objects found: re-staging %s", ", ".join(keys))
        extras = {}
        for late_hour in late:
            # The hour's events again, and any new songs, under the late hour's key.
            stats, song_stats = (
                stage_partition(
                    fmt,
                    late_hour,
                    late_hour.strftime(prefix),
                    source=source,
                    db_hook=db_hook,
                    settings=settings,
                    log=self.log,
                )
                for fmt, prefix in (
                    ("jsonl", events_pattern),
                    ("json_object", source_pattern("json_object", settings)),
                )
            )
            log_stats(self.log, stats)
            extras[stats.partition_key] = (stats.as_extra(), song_stats.as_extra())
        events_outlet, songs_outlet = self.outlets
        for key in extras:
            context["outlet_events"][events_outlet].add_partitions(key)
            context["outlet_events"][songs_outlet].add_partitions(key)
        # One extra per asset is carried by all of its partition events: keep it a summary.
        context["outlet_events"][events_outlet].extra = {"late_partitions": keys}
        context["outlet_events"][songs_outlet].extra = {"late_partitions": keys}
        return {"late_partitions": keys, "stats": {k: v[0] for k, v in extras.items()}}

    def find_late_hours(
        self, hour: datetime, lookback: int, source: Any, db_hook: Any, pattern: str
    ) -> list[datetime]:
        """``hour`` and the ``lookback`` hours before it that were staged with other objects
        than their prefixes (``pattern``, a strftime pattern of the hour) hold now."""
        from sparkify.pipeline.staging.ledger import ledger_matches, run

        candidates = [hour - partitions.HOUR * n for n in range(lookback, -1, -1)]
        conn = db_hook.get_conn()
        late = []
        try:
            with conn.cursor() as cur:
                bounds = {
                    "dataset": "events",
                    "first_hour": partitions.naive_utc(candidates[0]),
                    "last_hour": partitions.naive_utc(hour),
                }
                run(cur, "ledger/read_staged_hours", bounds)
                staged = {row[0] for row in cur.fetchall()}
                for candidate in candidates:
                    if partitions.naive_utc(candidate) not in staged:
                        continue  # never staged: its own run will take it, not late
                    objects = source.list(candidate.strftime(pattern))
                    if not ledger_matches(cur, "events", objects, partitions.naive_utc(candidate)):
                        late.append(candidate)
            conn.rollback()
        finally:
            conn.close()
        return late
