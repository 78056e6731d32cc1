"""Load the star schema for a window of hours: `songplays`, `users`, `songs`, `artists`, `time`.

Owner: sparkify-data. Runs once per partition key when both `staged_events` and
`staged_songs` have an event for it: one hour, or the window of hours a backfill staged in
one run (`2018-11-13T00:00:00/2018-11-14T00:00:00`). One task, `load_star_schema`, runs the
five loads (songs, artists, songplays, time, users) in that order in one transaction:
`songplays` for the window is deleted and inserted (each row keeps its own hour), dimensions
are upserted (param `dimension_mode`: upsert, truncate_insert or append), and plays that
matched no song are matched again when new songs arrive. One task rather than five: the
window is applied whole or not at all, and on a small machine each task process costs more
than the SQL it runs.
When it fails: the transaction is rolled back, so nothing partial is left; the log names
the file and statement. Fix and clear the task, or re-run the partition with
`sparkify backfill --dag model`.
"""

from __future__ import annotations

from airflow.sdk import Param, PartitionedAssetTimetable, dag

from sparkify.pipeline.assets import modeled, staged_events, staged_songs
from sparkify.pipeline.dag_defaults import DEFAULT_ARGS, ON_FAILURE, RUN_DEADLINE, START_DATE
from sparkify.pipeline.operators.sql_file import SqlFileOperator
from sparkify.pipeline.sql import MODEL_LOADS, MODES

MODE = "{{ params.dimension_mode }}"


@dag(
    schedule=PartitionedAssetTimetable(assets=staged_events & staged_songs),
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    on_failure_callback=ON_FAILURE,
    deadline=RUN_DEADLINE,
    # Hours load side by side; their transactions queue on the table locks, which every run
    # takes in one order (sparkify.pipeline.sql.MODEL_LOADS), so they cannot deadlock.
    max_active_runs=4,
    params={"dimension_mode": Param("upsert", enum=list(MODES))},
    tags=["sparkify", "model"],
    doc_md=__doc__,
)
def model():
    SqlFileOperator(task_id="load_star_schema", sql_file=MODEL_LOADS, mode=MODE, outlets=[modeled])


model()
