"""Check one modeled window: keys, ranges, row counts, references, freshness, reconciliation.

Owner: sparkify-data. Runs once per partition key of `modeled`: one hour, or the window of
hours a backfill modelled in one run (`2018-11-13T00:00:00/2018-11-14T00:00:00`). Column checks
(SQLColumnCheckOperator) and table checks (SQLTableCheckOperator) for the hour, among them
referential integrity (each play's user, start time, song and artist exist in their
dimensions); then the reconciliation of lines read against staged, rejected and duplicate,
the reject rate, freshness (`freshness_max_age_hours`) and the share of plays matched to a
song, each hour of the window reconciled on its own. Every outcome is written to
`check_results` with the window it judged (`partition_hour` .. `window_end`,
`partition_key`). A failed check fails its task at once, without retries.
When it fails: the failed task's message names the table, the check and the value found;
`SELECT * FROM check_results WHERE NOT passed ORDER BY checked_at DESC` lists them.
"""

from __future__ import annotations

from airflow.sdk import PartitionedAssetTimetable, dag

from sparkify.pipeline.assets import checked, modeled
from sparkify.pipeline.dag_defaults import (
    DEFAULT_ARGS,
    ON_FAILURE,
    RUN_DEADLINE,
    START_DATE,
    USER_DEFINED_FILTERS,
)
from sparkify.pipeline.operators.checks import (
    PartitionColumnCheckOperator,
    PartitionTableCheckOperator,
)
from sparkify.pipeline.operators.reconcile import ReconcilePartitionOperator

IN_PARTITION = "{{ dag_run.partition_key | in_window('partition_hour') }}"
IN_PLAY_PARTITION = "{{ dag_run.partition_key | in_window('p.partition_hour') }}"
IN_HOUR = "{{ dag_run.partition_key | in_window('start_time') }}"
NOT_NULL = {"null_check": {"equal_to": 0}}
KEY = {"null_check": {"equal_to": 0}, "unique_check": {"equal_to": 0}}
NEXTSONG_STAGED = (
    "(SELECT COUNT(*) FROM staging_events WHERE page = 'NextSong' AND " + IN_PARTITION + ")"
)


def plays_found_in(dimension: str, key: str) -> str:
    """The partition's plays whose ``key`` is found in ``dimension``, as a scalar subquery."""
    return (
        f"(SELECT COUNT(*) FROM songplays AS p JOIN {dimension} AS d ON d.{key} = p.{key} "
        f"WHERE {IN_PLAY_PARTITION})"
    )


PLAYS_WITH_USER = plays_found_in("users", "user_id")
PLAYS_WITH_TIME = plays_found_in('"time"', "start_time")
PLAYS_WITH_SONG = plays_found_in("songs", "song_id")
PLAYS_WITH_ARTIST = plays_found_in("artists", "artist_id")


@dag(
    schedule=PartitionedAssetTimetable(assets=modeled),
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    on_failure_callback=ON_FAILURE,
    deadline=RUN_DEADLINE,
    user_defined_filters=USER_DEFINED_FILTERS,
    tags=["sparkify", "quality"],
    doc_md=__doc__,
)
def quality():
    PartitionColumnCheckOperator(
        task_id="check_songplays_columns",
        table="songplays",
        partition_clause=IN_PARTITION,
        column_mapping={
            "songplay_id": KEY,
            "start_time": NOT_NULL,
            "session_id": NOT_NULL,
            "partition_hour": NOT_NULL,
        },
    )
    PartitionTableCheckOperator(
        task_id="check_songplays_table",
        table="songplays",
        partition_clause=IN_PARTITION,
        checks={
            "plays_equal_nextsong_staged": {"check_statement": f"COUNT(*) = {NEXTSONG_STAGED}"},
            # Referential integrity: every play's user and start time, and its song and
            # artist where it has one, exist in their dimensions.
            "plays_users_exist": {"check_statement": "COUNT(*) = " + PLAYS_WITH_USER},
            "plays_start_times_exist": {"check_statement": "COUNT(*) = " + PLAYS_WITH_TIME},
            "plays_songs_exist": {"check_statement": "COUNT(song_id) = " + PLAYS_WITH_SONG},
            "plays_artists_exist": {"check_statement": "COUNT(artist_id) = " + PLAYS_WITH_ARTIST},
            "plays_in_partition_hour": {
                "check_statement": (
                    "COUNT(*) = COALESCE(SUM(CASE WHEN " + IN_HOUR + " THEN 1 ELSE 0 END), 0)"
                )
            },
        },
    )
    PartitionColumnCheckOperator(
        task_id="check_time_columns",
        table='"time"',
        partition_clause=IN_HOUR,
        column_mapping={
            "start_time": KEY,
            "hour": {"null_check": {"equal_to": 0}, "min": {"geq_to": 0}, "max": {"leq_to": 23}},
            "weekday": {"min": {"geq_to": 0}, "max": {"leq_to": 6}},
        },
    )
    PartitionColumnCheckOperator(
        task_id="check_users_columns",
        table="users",
        column_mapping={"user_id": KEY, "level": NOT_NULL},
    )
    PartitionColumnCheckOperator(
        task_id="check_songs_columns",
        table="songs",
        column_mapping={"song_id": KEY, "duration": NOT_NULL},
    )
    PartitionTableCheckOperator(
        task_id="check_songs_values",
        table="songs",
        # As an aggregate so that a catalogue still empty passes: no duration is non-positive.
        checks={"positive_durations": {"check_statement": "COUNT(*) = 0 OR MIN(duration) > 0"}},
    )
    PartitionColumnCheckOperator(
        task_id="check_artists_columns", table="artists", column_mapping={"artist_id": KEY}
    )
    ReconcilePartitionOperator(task_id="reconcile_partition", outlets=[checked])


quality()
