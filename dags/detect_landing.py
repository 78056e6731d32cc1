"""Detect that an hour's events have landed in S3, and emit `landed` for its partition.

Owner: sparkify-data. Hourly (partition = the hour that just ended, `CronPartitionTimetable`,
so `airflow backfill create --dag-id detect_landing` works for any past range). One task
waits for the hour's prefix `<events_prefix>/YYYY/MM/DD/HH/` (the setting `events_prefix`,
`log_data` by default, the prefix staging reads), or for the hour's grace period to pass
when it is empty (an empty hour is legitimate), and on success emits the `landed` Asset
for the hour's key; `stage_events` and `stage_songs` run for that key by themselves.
`landed` is the pipeline's one entry point: bucket notifications (`route_notifications`)
and `sparkify backfill` start the same staging DAGs with an hour's key or a window's.
With `SPARKIFY_INGEST=events` it is unscheduled (runs only by hand); `schedule` and `both`
(the default) keep it hourly, the safety net for notifications that were lost.
When it fails: the sensor timed out (six hours without the hour's grace passing: check the
scheduler's clock) or could not reach S3 (the `aws` connection). Re-running is safe.
"""

from __future__ import annotations

from airflow.sdk import dag

from sparkify.pipeline import ingest
from sparkify.pipeline.assets import landed
from sparkify.pipeline.dag_defaults import DEFAULT_ARGS, ON_FAILURE, RUN_DEADLINE, START_DATE
from sparkify.pipeline.operators.sensors import HourPrefixSensor


@dag(
    schedule=ingest.detect_landing_schedule(),  # hourly unless SPARKIFY_INGEST=events
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    on_failure_callback=ON_FAILURE,
    deadline=RUN_DEADLINE,
    max_active_runs=4,
    tags=["sparkify", "staging"],
    doc_md=__doc__,
)
def detect_landing():
    # The sensor itself carries the outlet: one task process an hour, not two. Its prefix
    # comes from the settings when it pokes, as staging's does.
    HourPrefixSensor(task_id="wait_for_events", poke_interval=60, outlets=[landed])


detect_landing()
