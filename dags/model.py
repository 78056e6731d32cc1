"""Load the star schema for one hour: `songplays`, `users`, `songs`, `artists`, `time`.

Owner: sparkify-data. Runs once per partition when both `staged_events` and `staged_songs`
have an event for it. `songplays` for the hour is deleted and inserted in one transaction;
dimensions are upserted (param `dimension_mode`: upsert, truncate_insert or append).
Plays that matched no song are matched again when new songs arrive.
When it fails: each load is one transaction, so nothing partial is left; fix and clear the
task, or re-run the partition with `sparkify backfill --dag model`.
"""

from __future__ import annotations

from airflow.sdk import Param, PartitionedAssetTimetable, dag

from sparkify.assets import modeled, staged_events, staged_songs
from sparkify.dag_defaults import DEFAULT_ARGS, START_DATE
from sparkify.operators.sql_file import SqlFileOperator
from sparkify.sql import MODES

MODE = "{{ params.dimension_mode }}"


@dag(
    schedule=PartitionedAssetTimetable(assets=staged_events & staged_songs),
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    # Hours load side by side; loads of one table queue on a table lock (sql/load/macros.sql).
    max_active_runs=4,
    params={"dimension_mode": Param("upsert", enum=list(MODES))},
    tags=["sparkify", "model"],
    doc_md=__doc__,
)
def model():
    songs = SqlFileOperator(task_id="load_songs", sql_file="load/load_songs", mode=MODE)
    artists = SqlFileOperator(task_id="load_artists", sql_file="load/load_artists", mode=MODE)
    songplays = SqlFileOperator(task_id="load_songplays", sql_file="load/load_songplays")
    time = SqlFileOperator(task_id="load_time", sql_file="load/load_time", mode=MODE)
    users = SqlFileOperator(
        task_id="load_users", sql_file="load/load_users", mode=MODE, outlets=[modeled]
    )
    songs >> artists >> songplays >> time >> users


model()
