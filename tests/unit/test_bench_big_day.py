"""The big day benchmark's bookkeeping: exact counts, the floor, where the time went."""

from __future__ import annotations

from benchmarks import big_day
from tests.unit.test_bench_timing import T0, at, ti

MANIFEST = {
    "outcomes": {"staged": 1000, "plays_staged": 800, "plays_matched_staged": 40},
    "songs": {"staged": 150},
}


def summary(**changes):
    base = {
        "tables": {"staging_events": 1000, "songplays": 800, "songs": 150},
        "lines": {"staged": 1000, "rejected": 0},
        "songplays_matched": 40,
    }
    for key, value in changes.items():
        table, _, column = key.partition("__")
        base[table] = value if not column else {**base[table], column: value}
    return base


def test_exact_counts_compare_the_summary_with_the_manifest():
    assert all(big_day.exact_counts(summary(), MANIFEST).values())
    off = big_day.exact_counts(summary(songplays_matched=39, tables__songs=149), MANIFEST)
    assert off == {
        "events_staged": True,
        "plays": True,
        "plays_matched": False,
        "songs": False,
        "nothing_rejected": True,
    }
    assert not big_day.exact_counts(summary(lines__rejected=1), MANIFEST)["nothing_rejected"]
    assert not big_day.exact_counts(summary(tables__staging_events=999), MANIFEST)["events_staged"]


def test_floor_durations_come_from_the_backfill_profile():
    results = {
        "backfill_profile": {
            "floor": {
                "floor_model": {"duration": {"median": 1.3}},
                "floor_quality": {"duration": {"median": 1.2}},
                "asset_hop_to_floor_model": {"median": 0.1},
            }
        }
    }
    assert big_day.floor_durations(results) == {"model": 1.3, "quality": 1.2}
    assert big_day.floor_durations({}) == {}


def run(key, start, end):
    return {"dag_run_id": key, "partition_key": key, "start_date": at(start), "end_date": at(end)}


def test_profile_sums_tasks_and_finds_the_queue_behind_model():
    latest = {
        "stage_events": {"h1": run("e1", 0, 3), "h2": run("e2", 0, 4)},
        "model": {"h1": run("m1", 3, 13), "h2": run("m2", 4, 16)},
        "quality": {"h1": run("q1", 13, 15)},
    }
    tis = {
        "stage_events": [
            ti("stage_events", "wait_for_events", 0, 1, run="e1"),
            ti("stage_events", "stage_events", 1, 3, run="e1"),
            ti("stage_events", "stage_events", 1, 4, run="e2"),
        ],
        # h1 (the catalogue hour) holds the locks 3-13; h2 runs from 4 and waits till 13.
        "model": [ti("model", "load", 3, 13, run="m1"), ti("model", "load", 4, 16, run="m2")],
        "quality": [ti("quality", "check", 13, 15, run="q1")],
    }
    upstream = {"stage_events": {"stage_events": ["wait_for_events"]}}
    floor = {"stage_events": 1.0, "model": 1.5}
    got = big_day.profile(latest, tis, T0, "h1", floor, upstream)
    assert got["staging"] == {
        "tasks": 3,
        "task_s": 6.0,
        "busy_s": 4.0,
        "first_start_s": 0.0,
        "last_end_s": 4.0,
        "floor_task_s": 3.0,
    }
    assert got["model"]["task_s"] == 22.0
    assert got["model"]["busy_s"] == 13.0
    assert got["model"]["queued_s"] == 9.0  # the 9 s both ran, h2 behind h1's locks
    assert got["model"]["catalogue_hour_s"] == 10.0
    assert got["model"]["other_hours_median_s"] == 12.0
    assert got["model"]["floor_task_s"] == 3.0
    assert got["quality"]["last_end_s"] == 15.0
    assert got["gaps"]["model"]["duration"]["sum"] == 22.0


def test_the_catalogue_hour_is_found_in_the_window_that_ran_it():
    day = "2018-11-21T00:00:00/2018-11-22T00:00:00"
    assert big_day.run_key_holding("2018-11-21T05:00:00", [day]) == day
    assert big_day.run_key_holding("2018-11-22T00:00:00", [day]) is None
    hours = ["2018-11-21T04:00:00", "2018-11-21T05:00:00"]
    assert big_day.run_key_holding("2018-11-21T05:00:00", hours) == "2018-11-21T05:00:00"
    assert big_day.run_key_holding(None, [day]) is None


def test_profile_of_one_window_gives_the_window_to_the_catalogue():
    day = "2018-11-21T00:00:00/2018-11-22T00:00:00"
    latest = {"model": {day: run("m", 3, 30)}}
    tis = {"model": [ti("model", "load", 3, 30, run="m")]}
    got = big_day.profile(latest, tis, T0, "2018-11-21T05:00:00", {}, {})
    assert got["model"]["catalogue_run_key"] == day
    assert got["model"]["catalogue_hour_s"] == 27.0
    assert got["model"]["other_hours_median_s"] is None
