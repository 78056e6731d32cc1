"""Re-stage hours whose S3 prefix received objects after they were staged.

Owner: sparkify-data. Every five minutes (`SPARKIFY_LATE_CHECK_CRON`, UTC) it compares each hour of
the last `late_lookback_hours` that was staged with what its prefix
`<events_prefix>/YYYY/MM/DD/HH/` holds now (the prefix staging reads, from the settings). An
hour with new or changed objects is staged again (its events, and any new song files), and
`staged_events` and `staged_songs` are emitted for its partition key, so `model` and
`quality` run again for that hour by themselves. With nothing late the task is skipped.
When it fails: the task log names the hour and object; re-running is safe (staging is
idempotent and guarded by the load ledger).
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag

from sparkify.pipeline import settings
from sparkify.pipeline.assets import staged_events, staged_songs
from sparkify.pipeline.dag_defaults import DEFAULT_ARGS, ON_FAILURE, START_DATE
from sparkify.pipeline.operators.late import RestageLateHoursOperator


@dag(
    schedule=CronTriggerTimetable(settings.late_check_cron(), timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    on_failure_callback=ON_FAILURE,
    max_active_runs=1,
    tags=["sparkify", "staging"],
    doc_md=__doc__,
)
def restage_late():
    RestageLateHoursOperator(task_id="restage_late_hours", outlets=[staged_events, staged_songs])


restage_late()
