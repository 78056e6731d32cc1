"""Stage one UTC hour of app events from S3 into `staging_events`.

Owner: sparkify-data. Hourly (partition = the hour that just ended). Waits for the hour's
prefix `log_data/YYYY/MM/DD/HH/`, or for the hour's grace period to pass when it is empty,
then replaces the partition's staged rows in one transaction and emits `staged_events`.
Objects that land in an hour's prefix after it was staged are found by `restage_late`.
When it fails: read the stage task's log (it names the object and line); rejected lines are
in `staging_rejects` with their reason, counts in `staging_partitions`. Re-running a
partition is safe.
"""

from __future__ import annotations

from airflow.sdk import CronPartitionTimetable, dag

from sparkify.pipeline.assets import staged_events
from sparkify.pipeline.dag_defaults import (
    DEFAULT_ARGS,
    EVENTS_PREFIX,
    HOURLY,
    ON_FAILURE,
    RUN_DEADLINE,
    START_DATE,
)
from sparkify.pipeline.operators.sensors import HourPrefixSensor
from sparkify.pipeline.operators.stage import StageJsonOperator


@dag(
    schedule=CronPartitionTimetable(HOURLY, timezone="UTC", run_offset=-1),
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    on_failure_callback=ON_FAILURE,
    deadline=RUN_DEADLINE,
    max_active_runs=4,
    tags=["sparkify", "staging"],
    doc_md=__doc__,
)
def stage_events():
    wait = HourPrefixSensor(task_id="wait_for_events", prefix=EVENTS_PREFIX, poke_interval=60)
    stage = StageJsonOperator(
        task_id="stage_events",
        source_prefix=EVENTS_PREFIX,
        table="staging_events",
        format="jsonl",
        outlets=[staged_events],
    )
    wait >> stage


stage_events()
