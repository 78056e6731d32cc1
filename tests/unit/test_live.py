"""``sparkify demo --live``: the lines it sends and how it times them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sparkify.local import live

KEY = "2026-12-01T10:00:00"
T0 = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def run(start: float, end: float, state: str = "success", key: str = KEY, task: float = 0.0):
    """A run queued and started at ``start``, its task ended ``task`` s before ``end``."""
    return {
        "dag_run_id": f"r{start}-{end}",
        "partition_key": key,
        "queued_at": at(start),
        "start_date": at(start),
        "end_date": at(end),
        "state": state,
        "task_end": T0 + timedelta(seconds=end - task),
    }


def task_end(_dag_id: str, run: dict) -> datetime:
    return run["task_end"]


def test_the_events_sent_carry_the_time_they_are_sent():
    lines = live.live_lines([{"ts": 1, "page": "NextSong"}, {"ts": 2, "page": "Home"}], T0)
    parsed = [json.loads(line) for line in lines.decode().splitlines()]
    base = int(T0.timestamp() * 1000)
    assert [p["ts"] for p in parsed] == [base, base + 1]
    assert [p["page"] for p in parsed] == ["NextSong", "Home"]
    assert lines.endswith(b"\n")


def test_an_object_is_covered_by_the_chain_that_started_after_its_upload():
    runs = {
        # A staging run that began before the upload did not see the object; the one
        # after it did, its task ending at 5 (its run is marked ended at 6).
        "stage_events": [run(-5, 2), run(3, 6, task=1), run(20, 22, key="2026-12-01T11:00:00")],
        # The model run queued before that task ended did not read it; the one queued at
        # 5.5, before the staging run was marked ended, did (task ended at 9).
        "model": [run(4, 8), run(5.5, 10, task=1)],
        # A failed quality run is not a check; the first successful one queued after the
        # model's task ended is.
        "quality": [run(8, 12), run(9.5, 13, "failed"), run(10, 15), run(12, 14)],
    }
    end = live.covering_quality_end(runs, KEY, T0, task_end)
    assert end == T0 + timedelta(seconds=15)
    assert live.covering_quality_end(runs, "2026-12-01T11:00:00", T0, task_end) is None
    runs["quality"] = [run(8, 12)]
    assert live.covering_quality_end(runs, KEY, T0, task_end) is None  # none after model


def test_freshness_is_upload_to_check_per_object():
    runs = {
        "stage_events": [run(1, 2), run(31, 32)],
        "model": [run(3, 4), run(33, 34)],
        "quality": [run(5, 10), run(35, 40)],
    }
    landed = [
        live.Landed("a", KEY, T0, 6),
        live.Landed("b", KEY, T0 + timedelta(seconds=30), 6),
        live.Landed("c", KEY, T0 + timedelta(seconds=60), 6),  # never checked
    ]
    fresh = live.freshness(runs, landed, task_end)
    assert fresh == {"p50": 10.0, "p95": 10.0, "max": 10.0, "objects": 2}
    assert live.percentile([1, 2, 3, 4, 5], 0.95) == 4.8


def test_the_live_run_fails_when_an_event_is_missing_or_an_object_unchecked():
    landed = [live.Landed("a", KEY, T0, 6), live.Landed("b", KEY, T0, 6)]
    summary = {
        "events_sent": 12,
        "tables": {"staging_events": 11},
        "freshness_s": {"objects": 1},
        "runs": {"model": {"success": 3, "failed": 1}},
        "checks": {"passed": 10, "failed": 0},
    }
    assert live.live_problems(summary, landed) == [
        "staging_events holds 11 rows, 12 events were sent",
        "1 object(s) never reached a successful quality run",
        "model: 1 run(s) failed",
    ]
