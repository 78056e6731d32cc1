"""Windows: a run's key names a range of hours, with the guarantees of hourly runs.

Through ``dag.test()`` on the real PostgreSQL and S3 endpoint, with the three consecutive
busy hours of ``test_idempotency``'s data: staging, ``model`` and ``quality`` over a window
leave exactly the tables an hourly pass leaves (ledger, ``staging_partitions`` and rejects
per hour included), whatever mix of grains ran; a ``model`` run that failed leaves no song
behind; and reconciliation counts each term on its own, so a staged row that goes missing
fails it.
"""

from __future__ import annotations

import pytest

from sparkify.pipeline import partitions
from tests.integration import test_idempotency as base
from tests.integration.dagrun import run_for_partition
from tests.integration.test_idempotency import (
    STAR_TABLES,
    another_schema,
    chain,
    expected_plays,
    land_songs,
    matched_plays,
    run,
    snapshot,
)

# The same data and DAGs as test_idempotency: its fixtures, used here too.
dataset = base.dataset
landed = base.landed
dags = base.dags

pytestmark = pytest.mark.integration

WHOLE_CHAIN = ("stage_events", "stage_songs", "model", "quality")
# Everything the pipeline writes but check_results, which says by design which window
# judged (and when).
TABLES = (
    "staging_events",
    "staging_songs",
    "staging_partitions",
    "staging_rejects",
    "load_ledger",
    *STAR_TABLES,
)


def window_key(first: str, last: str) -> str:
    """The key of the hours ``first`` .. ``last`` (hour keys, both inclusive)."""
    start = partitions.parse_key(first)
    end = partitions.parse_key(last) + partitions.HOUR
    return partitions.Window(start, end).key


def test_mixed_grains_end_in_the_tables_of_one_hourly_pass(
    stack, schema_ready, s3, bucket, landed, dags, monkeypatch
) -> None:
    land_songs(s3, bucket, landed)
    h1, h2, h3 = landed["hours"]
    for key in (h1, h2, h3):
        chain(dags, key, WHOLE_CHAIN)
    hourly = snapshot(schema_ready, TABLES)
    assert all(hourly[t] for t in TABLES if t != "staging_rejects")

    with another_schema(stack, monkeypatch) as conn:
        # One window for the three hours, as a backfill hands it over.
        chain(dags, window_key(h1, h3), WHOLE_CHAIN)
        assert snapshot(conn, TABLES) == hourly, "a window differs from its hours"
        per_hour = conn.execute(
            "SELECT COUNT(*) FROM staging_partitions WHERE dataset = 'events'"
        ).fetchone()
        assert per_hour == (3,)
        assert {k: matched_plays(conn, k) for k in (h1, h2, h3)} == {
            k: expected_plays(landed, k) for k in (h1, h2, h3)
        }

        # An hour again after its window; then the window after its hours; then two
        # overlapping windows: nothing changes.
        chain(dags, h2, WHOLE_CHAIN)
        assert snapshot(conn, TABLES) == hourly, "an hour after its window changed it"
        chain(dags, window_key(h1, h3), WHOLE_CHAIN)
        assert snapshot(conn, TABLES) == hourly, "a window after its hours changed it"
        chain(dags, window_key(h1, h2), WHOLE_CHAIN)
        chain(dags, window_key(h2, h3), WHOLE_CHAIN)
        assert snapshot(conn, TABLES) == hourly, "overlapping windows changed it"

        # Every check of the window says which window it judged.
        judged = conn.execute(
            "SELECT DISTINCT partition_key, partition_hour, window_end FROM check_results "
            "WHERE partition_key = %s",
            (window_key(h1, h3),),
        ).fetchall()
        window = partitions.parse_window(window_key(h1, h3))
        assert judged == [
            (window.key, partitions.naive_utc(window.start), partitions.naive_utc(window.end))
        ]
        failed = conn.execute("SELECT COUNT(*) FROM check_results WHERE NOT passed").fetchone()
        assert failed == (0,)


def test_a_failed_model_run_leaves_no_song_behind(schema_ready, s3, bucket, landed, dags) -> None:
    """Songs staged under hour 1, whose ``model`` fails (rolled back): ``model`` for hour 2
    loads them all the same, its plays match them, and its quality passes."""
    conn = schema_ready
    assert land_songs(s3, bucket, landed) > 0
    first, second = landed["hours"][:2]
    for key in (first, second):
        run(dags, "stage_events", key)
        run(dags, "stage_songs", key)  # every song is staged under the first hour
    staged_under_first = conn.execute(
        "SELECT COUNT(*) FROM staging_songs WHERE partition_hour = %s",
        (partitions.naive_utc(partitions.parse_key(first)),),
    ).fetchone()[0]
    assert staged_under_first > 0

    # Hour 1's model fails at its last load, after songs and artists: all of it rolls back.
    conn.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'model refused on purpose'; END $$"
    )
    conn.execute("CREATE TRIGGER refuse_users BEFORE INSERT ON users EXECUTE FUNCTION refuse()")
    failed = run_for_partition(dags["model"], first)
    assert failed.state == "failed"
    assert conn.execute("SELECT COUNT(*) FROM songs").fetchone() == (0,)
    conn.execute("DROP TRIGGER refuse_users ON users")

    run(dags, "model", second)  # hour 1's model never runs again
    songs = conn.execute("SELECT COUNT(*) FROM songs").fetchone()[0]
    assert songs == conn.execute("SELECT COUNT(*) FROM staging_songs").fetchone()[0]
    missing_artists = conn.execute(
        "SELECT COUNT(DISTINCT artist_id) FROM staging_songs AS s "
        "WHERE NOT EXISTS (SELECT 1 FROM artists AS a WHERE a.artist_id = s.artist_id)"
    ).fetchone()
    assert missing_artists == (0,)
    assert matched_plays(conn, second) == expected_plays(landed, second)
    run(dags, "quality", second)  # plays_songs_exist and plays_artists_exist hold

    run(dags, "model", first)
    assert matched_plays(conn, first) == expected_plays(landed, first)
    run(dags, "quality", first)


def reconcile_outcome(conn, key: str) -> tuple[str, bool]:
    return conn.execute(
        "SELECT value, passed FROM check_results "
        "WHERE check_name = 'lines_reconcile' AND partition_key = %s "
        "ORDER BY checked_at DESC LIMIT 1",
        (key,),
    ).fetchone()


def test_reconciliation_fails_when_a_staged_row_goes_missing(
    schema_ready, s3, bucket, landed, dags
) -> None:
    conn = schema_ready
    land_songs(s3, bucket, landed)
    h1, h2, h3 = landed["hours"]
    window = window_key(h1, h3)
    chain(dags, window, WHOLE_CHAIN)
    assert reconcile_outcome(conn, window)[1] is True

    # A non-NextSong event of hour 2 disappears from staging after it was counted (the
    # plays still equal the NextSong events staged: only the line count can see it).
    second_hour = partitions.naive_utc(partitions.parse_key(h2))
    deleted = conn.execute(
        "DELETE FROM staging_events WHERE ctid IN (SELECT ctid FROM staging_events "
        "WHERE partition_hour = %s AND page <> 'NextSong' LIMIT 1)",
        (second_hour,),
    ).rowcount
    assert deleted == 1

    failed = run_for_partition(dags["quality"], window)
    assert failed.state == "failed"
    value, passed = reconcile_outcome(conn, window)
    assert passed is False
    assert f"off in {h2} " in value, value
    other = conn.execute(
        "SELECT check_name FROM check_results WHERE NOT passed AND partition_key = %s",
        (window,),
    ).fetchall()
    assert other == [("lines_reconcile",)]

    # The hour alone fails too; its neighbours still pass.
    assert run_for_partition(dags["quality"], h2).state == "failed"
    assert reconcile_outcome(conn, h2)[1] is False
    run(dags, "quality", h1)
    assert reconcile_outcome(conn, h1)[1] is True
