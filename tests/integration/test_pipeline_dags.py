"""Each DAG through ``dag.test()`` against the real PostgreSQL server and S3 endpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sparkify.pipeline import settings
from tests.integration.conftest import put_lines
from tests.integration.dagrun import load_dag, run_for_partition

pytestmark = pytest.mark.integration

H = "2018-11-02T13:00:00"
PREFIX = "log_data/2018/11/02/13/"


def event(
    session: int,
    item: int,
    ts: int,
    *,
    page="NextSong",
    user="66",
    song="Monster",
    artist="Skillet",
    length=178.02404,
    level="free",
    first="Kevin",
) -> dict:
    return {
        "artist": artist if page == "NextSong" else None,
        "auth": "Logged In",
        "firstName": first,
        "gender": "M",
        "itemInSession": item,
        "lastName": "Arellano",
        "length": length if page == "NextSong" else None,
        "level": level,
        "location": "Harrisburg-Carlisle, PA",
        "method": "PUT",
        "page": page,
        "registration": 1540006905796.0,
        "sessionId": session,
        "song": song if page == "NextSong" else None,
        "status": 200,
        "ts": ts,
        "userAgent": '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4)"',
        "userId": user,
    }


SONG = {
    "num_songs": 1,
    "artist_id": "ARJNIUY12298900C91",
    "artist_latitude": None,
    "artist_location": "",
    "artist_longitude": None,
    "artist_name": "Skillet",
    "song_id": "SOZPNVK12AAFF4249A",
    "title": "Monster",
    "duration": 178.02404,
    "year": 2009,
}

T0 = 1541163600000  # 2018-11-02T13:00:00Z in ms


def land_hour(s3, bucket):
    lines = [
        json.dumps(event(10, 0, T0 + 1000)),
        json.dumps(event(10, 1, T0 + 2000, song="Unknown", artist="Nobody")),
        json.dumps(event(10, 2, T0 + 3000, page="Home")),
        json.dumps(event(11, 0, T0 + 4000, user="", page="Home")),
        "{not json",
        json.dumps({**event(12, 0, T0 + 5000), "ts": "1541163605000"}),
    ]
    put_lines(s3, bucket, PREFIX + "2018-11-02-events.json", lines, final_newline=False)
    s3.put_object(
        Bucket=bucket, Key="song_data/A/B/C/TRABCAAA128F4242.json", Body=json.dumps(SONG).encode()
    )


def counts(conn) -> dict[str, int]:
    tables = [
        "staging_events",
        "staging_songs",
        "staging_rejects",
        "songplays",
        "users",
        "songs",
        "artists",
        '"time"',
    ]
    return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def test_setup_creates_the_schema_idempotently(warehouse, bucket):
    dag = load_dag("setup")
    for _ in range(2):
        run = run_for_partition(dag, H)
        assert run.state == "success"
    tables = {
        r[0]
        for r in warehouse.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }
    assert {
        "staging_events",
        "songplays",
        "users",
        "songs",
        "artists",
        "time",
        "load_ledger",
        "staging_rejects",
        "check_results",
    } <= tables


def test_chain_for_one_partition(schema_ready, s3, bucket, monkeypatch):
    conn = schema_ready
    monkeypatch.setenv("SPARKIFY_MAX_REJECT_RATE", "0.5")  # one bad line in six, on purpose
    settings.current.cache_clear()
    land_hour(s3, bucket)
    assert run_for_partition(load_dag("stage_events"), H).state == "success"
    assert run_for_partition(load_dag("stage_songs"), H).state == "success"
    staged = conn.execute(
        "SELECT rows_read, rows_staged, rows_rejected, rows_duplicate, rows_coerced "
        "FROM staging_partitions WHERE dataset = 'events'"
    ).fetchone()
    assert staged == (6, 5, 1, 0, 1)
    reject = conn.execute("SELECT line_no, reason, raw_text FROM staging_rejects").fetchone()
    assert reject == (5, "not_json", "{not json")

    assert run_for_partition(load_dag("model"), H).state == "success"
    first = counts(conn)
    assert first["songplays"] == 3
    assert first["users"] == 1  # the logged-out event has no user
    assert first["songs"] == 1
    assert first["artists"] == 1
    matched = conn.execute("SELECT COUNT(*) FROM songplays WHERE song_id IS NOT NULL").fetchone()
    assert matched == (2,)  # sessions 10/0 and 12/0 play the catalogue song

    assert run_for_partition(load_dag("quality"), H).state == "success"
    failed = conn.execute("SELECT COUNT(*) FROM check_results WHERE NOT passed").fetchone()
    assert failed == (0,)

    # Re-running every DAG for the partition changes nothing.
    for dag_id in ("stage_events", "stage_songs", "model"):
        assert run_for_partition(load_dag(dag_id), H).state == "success"
    assert counts(conn) == first


def test_quality_fails_naming_table_check_and_value(schema_ready, s3, bucket, monkeypatch):
    conn = schema_ready
    monkeypatch.setenv("SPARKIFY_MAX_REJECT_RATE", "0.5")
    settings.current.cache_clear()
    land_hour(s3, bucket)
    for dag_id in ("stage_events", "stage_songs", "model"):
        assert run_for_partition(load_dag(dag_id), H).state == "success"
    conn.execute("DELETE FROM songplays WHERE session_id = 12")  # a lost fact
    run = run_for_partition(load_dag("quality"), H)
    assert run.state == "failed"
    failed = conn.execute(
        "SELECT check_name, table_name, value FROM check_results WHERE NOT passed ORDER BY 1"
    ).fetchall()
    names = {row[0] for row in failed}
    assert "plays_equal_nextsong_staged" in names
    assert any("plays 2, NextSong staged 3" in (row[2] or "") for row in failed)


def test_quality_fails_on_a_play_whose_user_is_missing(schema_ready, s3, bucket, monkeypatch):
    conn = schema_ready
    monkeypatch.setenv("SPARKIFY_MAX_REJECT_RATE", "0.5")  # the hour holds one bad line
    settings.current.cache_clear()
    land_hour(s3, bucket)
    for dag_id in ("stage_events", "stage_songs", "model"):
        assert run_for_partition(load_dag(dag_id), H).state == "success"
    user = conn.execute("SELECT user_id FROM songplays LIMIT 1").fetchone()[0]
    conn.execute("DELETE FROM users WHERE user_id = %s", (user,))  # a broken reference
    assert run_for_partition(load_dag("quality"), H).state == "failed"
    failed = conn.execute("SELECT check_name FROM check_results WHERE NOT passed").fetchall()
    assert failed == [("plays_users_exist",)]
    passed = {r[0] for r in conn.execute("SELECT check_name FROM check_results WHERE passed")}
    assert {"plays_start_times_exist", "plays_songs_exist", "plays_artists_exist"} <= passed


def test_quality_fails_when_no_event_came_for_longer_than_the_freshness_limit(
    schema_ready, s3, bucket, monkeypatch
):
    conn = schema_ready
    monkeypatch.setenv("SPARKIFY_MAX_REJECT_RATE", "0.5")
    settings.current.cache_clear()
    land_hour(s3, bucket)
    quiet = "2018-11-03T14:00:00"  # 25 hours after the last hour with events
    for key in (H, quiet):
        for dag_id in ("stage_events", "stage_songs", "model"):
            assert run_for_partition(load_dag(dag_id), key).state == "success", (dag_id, key)
    assert run_for_partition(load_dag("quality"), quiet).state == "failed"
    failed = conn.execute(
        "SELECT check_name, partition_hour, value FROM check_results WHERE NOT passed"
    ).fetchall()
    assert [(name, str(hour)) for name, hour, _ in failed] == [("freshness", "2018-11-03 14:00:00")]
    assert failed[0][2] == f"newest hour with events {H}, 25 h before (max 24 h)"


def test_late_object_restages_its_hour(schema_ready, s3, bucket, monkeypatch):
    conn = schema_ready
    monkeypatch.setenv("SPARKIFY_MAX_REJECT_RATE", "0.5")
    settings.current.cache_clear()
    land_hour(s3, bucket)
    assert run_for_partition(load_dag("stage_events"), H).state == "success"
    before = conn.execute("SELECT rows_staged FROM staging_partitions").fetchone()[0]
    restage_late = load_dag("restage_late")
    for task in restage_late.tasks:
        task.retries = 0
    # Nothing late yet: the check finds nothing and stages nothing.
    quiet = restage_late.test(logical_date=datetime(2018, 11, 2, 14, 5, tzinfo=UTC))
    assert quiet.state == "success"
    assert {ti.state for ti in quiet.get_task_instances()} == {"skipped"}
    # A file lands in 13:00's prefix after 13:00 was staged...
    late_lines = [json.dumps(event(20, i, T0 + 60_000 + i)) for i in range(4)]
    put_lines(s3, bucket, PREFIX + "late-delivery.json", late_lines)
    # ...and the next check finds it and stages 13:00 again by itself.
    run = restage_late.test(logical_date=datetime(2018, 11, 2, 14, 10, tzinfo=UTC))
    assert run.state == "success"
    (ti,) = run.get_task_instances()
    assert ti.state == "success"
    after = conn.execute(
        "SELECT rows_staged FROM staging_partitions WHERE partition_hour = '2018-11-02 13:00'"
    ).fetchone()[0]
    assert after == before + 4
    ledger = conn.execute(
        "SELECT COUNT(*) FROM load_ledger WHERE dataset = 'events' "
        "AND partition_hour = '2018-11-02 13:00'"
    ).fetchone()[0]
    assert ledger == 2
    # The hour's chain is re-fired: both staging assets got an event for 13:00's key.
    assert emitted_partition_keys(run, ("staged_events", "staged_songs")) == {
        "staged_events": [H],
        "staged_songs": [H],
    }


def emitted_partition_keys(run, asset_names) -> dict[str, list[str]]:
    """The partition keys of the asset events a run emitted, per asset name."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.name, AssetEvent.partition_key)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == run.run_id, AssetModel.name.in_(asset_names))
        ).all()
    keys: dict[str, list[str]] = {}
    for name, key in rows:
        keys.setdefault(name, []).append(key)
    return {name: sorted(found) for name, found in sorted(keys.items())}


def test_an_empty_past_hour_completes_with_zero_rows_and_passes_quality(schema_ready, bucket):
    conn = schema_ready
    empty = "2018-11-03T04:00:00"
    for dag_id in ("stage_events", "stage_songs", "model", "quality"):
        assert run_for_partition(load_dag(dag_id), empty).state == "success", dag_id
    staged = conn.execute(
        "SELECT objects, rows_read, rows_staged FROM staging_partitions WHERE dataset = 'events'"
    ).fetchone()
    assert staged == (0, 0, 0)
    assert conn.execute("SELECT COUNT(*) FROM check_results WHERE NOT passed").fetchone() == (0,)
    assert conn.execute("SELECT COUNT(*) FROM check_results").fetchone()[0] > 10
