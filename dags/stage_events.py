"""Stage app events from S3 into `staging_events`, for an hour or a window of hours.

Owner: sparkify-data. Runs for each partition key of `landed` (from `detect_landing` every
hour, or bucket notifications), or started by hand or by `sparkify backfill` with any key:
an hour `2018-11-13T05:00:00` or a window `2018-11-13T00:00:00/2018-11-14T00:00:00`. Each
hour of the key is staged on its own, in its own transaction, from its prefix
`<events_prefix>/YYYY/MM/DD/HH/` (the setting `events_prefix`, `log_data` by default; an
empty hour stages zero rows), exactly as an hourly run would; then the `announce` task
emits `staged_events` for the run's key, in the one-slot pool `sparkify_announce` (so that
it and `staged_songs` never commit at once, which Airflow 3.3.2 can turn into a `model` run
that never starts: apache/airflow#71070).
Objects that land in an hour's prefix after it was staged are found by `restage_late`.
When it fails: read the stage task's log (it names the object and line); rejected lines are
in `staging_rejects` with their reason, counts in `staging_partitions`. Re-running a
partition is safe.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag

from sparkify.pipeline.assets import landed, staged_events
from sparkify.pipeline.dag_defaults import (
    ANNOUNCE_POOL,
    DEFAULT_ARGS,
    ON_FAILURE,
    RUN_DEADLINE,
    START_DATE,
)
from sparkify.pipeline.operators.announce import AnnounceOperator
from sparkify.pipeline.operators.stage import StageJsonOperator


@dag(
    # Any key: PartitionedAssetTimetable takes a manual run's key as given (a window too),
    # where a CronPartitionTimetable refuses one that is not its key_format.
    schedule=PartitionedAssetTimetable(assets=landed),
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
    StageJsonOperator(
        task_id="stage_events", table="staging_events", format="jsonl"
    ) >> AnnounceOperator(
        task_id="announce", staged_by="stage_events", outlets=[staged_events], pool=ANNOUNCE_POOL
    )


stage_events()
