"""Stage new or changed song files from S3 into `staging_songs`.

Owner: sparkify-data. Runs for each partition key of `landed`, as `stage_events` does (an
hour, or a window of hours when started by `sparkify backfill`), so that `model` for the key
sees every song that had landed before it was staged. Song files carry no event time: each
run loads whatever objects under `<songs_prefix>/` (the setting `songs_prefix`, `song_data`
by default) the load ledger has not seen (or saw with another ETag), recorded under the
key's first hour (its other hours record nothing new); then the `announce` task emits
`staged_songs` for its key (zero rows when nothing is new), in the one-slot pool
`sparkify_announce`, as `stage_events` does.
When it fails: the log names the object; rejected files are in `staging_rejects`.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag

from sparkify.pipeline.assets import landed, staged_songs
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
    schedule=PartitionedAssetTimetable(assets=landed),
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    on_failure_callback=ON_FAILURE,
    deadline=RUN_DEADLINE,
    max_active_runs=1,  # song loads serialise on the ledger anyway
    tags=["sparkify", "staging"],
    doc_md=__doc__,
)
def stage_songs():
    StageJsonOperator(
        task_id="stage_songs", table="staging_songs", format="json_object"
    ) >> AnnounceOperator(
        task_id="announce", staged_by="stage_songs", outlets=[staged_songs], pool=ANNOUNCE_POOL
    )


stage_songs()
