"""The demo's start: on a new stack the data lands while Airflow starts, the DAGs are created
paused, and the live entry points are unpaused only once the range is done; on a stack that
ran before, landing waits for the live clock as it always did.

The stack and the REST API are fakes here (the order of the steps is what is tested); the
e2e tests and ``sparkify demo`` itself run the real ones.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest

from sparkify.local import demo

SOURCE_DAY = date(2018, 11, 1)


class FakeStack:
    def __init__(self, tmp_path: Path, *, new: bool, events: list, landing_started) -> None:
        self.state_dir = tmp_path
        self.new = new
        self.events = events
        self.landing_started = landing_started
        self.executor = "local"
        self.config = {"warehouse": "postgres"}

    def airflow_is_new(self) -> bool:
        return self.new

    def up(self, components=None, *, paused_at_creation=False, **_kwargs) -> None:
        parts = tuple(components or ())
        self.events.append(("up", parts, paused_at_creation))
        if self.new and parts == demo.AIRFLOW:
            # Airflow "starts" only once the landing has begun beside it.
            assert self.landing_started.wait(5), "the landing did not start beside Airflow"

    def api_client(self):
        events = self.events

        class Client:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def events(self):
                return events

        return Client()

    def down(self, **_kwargs) -> None:
        self.events.append(("down",))


@pytest.fixture
def run(monkeypatch, tmp_path):
    """Run the demo on a fake stack; returns (events, result or exception)."""

    def go(*, new: bool, fail_pipeline: bool = False, down: bool = True):
        events: list[tuple] = []
        landing_started = threading.Event()
        stack = FakeStack(tmp_path, new=new, events=events, landing_started=landing_started)

        def land_data(_stack, _source, first, last, *, stop=None):
            events.append(("land", first, last, threading.current_thread().name))
            landing_started.set()
            return {"lines": 1, "song_files": 1, "uploaded": 2, "unchanged": 0, "seconds": 0.1}

        def unpause(_client, dag_ids):
            events.append(("unpause", tuple(dag_ids)))
            return list(dag_ids)

        def wait_for_partitions(*_args, **_kwargs):
            events.append(("wait",))
            if fail_pipeline:
                raise RuntimeError("the scheduler went away")
            return {}

        class Submission:
            dag_id, since = "stage_events", None

        monkeypatch.setattr(demo, "data_span", lambda _source: (SOURCE_DAY, SOURCE_DAY))
        monkeypatch.setattr(demo, "land_data", land_data)
        monkeypatch.setattr(demo, "unpause", unpause)
        monkeypatch.setattr(demo, "wait_for_dags", lambda *_a, **_k: None)
        monkeypatch.setattr(demo, "trigger_and_wait", lambda *_a, **_k: {"state": "success"})
        monkeypatch.setattr(demo, "settle", lambda *_a, **_k: events.append(("settle",)))
        monkeypatch.setattr(
            demo, "backfill", lambda *_a, **_k: events.append(("backfill",)) or [Submission()]
        )
        monkeypatch.setattr(demo, "wait_for_partitions", wait_for_partitions)
        monkeypatch.setattr(demo, "task_instances_per_host", lambda *_a: {})
        monkeypatch.setattr(
            demo, "collect_summary", lambda *_a, **_k: events.append(("summary",)) or {}
        )
        monkeypatch.setattr(demo, "summary_problems", lambda *_a: [])
        monkeypatch.setattr(demo, "write_health_report", lambda *_a: None)
        options = demo.DemoOptions(source=tmp_path, down=down, progress=False)
        try:
            return events, demo.run_demo(options, stack=stack)
        except Exception as exc:  # the failing pipeline's
            return events, exc

    return go


def _names(events: list[tuple]) -> list[str]:
    return [e[0] if e[0] != "up" else f"up{e[1]}" for e in events]


def test_a_new_stack_lands_beside_airflow_and_unpauses_the_entry_points_last(run) -> None:
    events, result = run(new=True)
    assert isinstance(result, demo.DemoResult)
    ups = [e for e in events if e[0] == "up"]
    assert ups == [("up", demo.STORAGE, False), ("up", demo.AIRFLOW, True)]
    (landing,) = [e for e in events if e[0] == "land"]
    assert landing[1:3] == (SOURCE_DAY, SOURCE_DAY)
    assert landing[3] != threading.current_thread().name  # beside, not before or after
    names = _names(events)
    assert "settle" not in names
    assert names.index("land") < names.index("backfill")
    unpauses = [e[1] for e in events if e[0] == "unpause"]
    assert unpauses[0] == (demo.SETUP_DAG,)
    assert unpauses[-1] == demo.ENTRY_DAGS
    # The clock and the notifications start nothing before the range's own runs are done.
    assert names.index("summary") < len(names) - 1 - names[::-1].index("unpause")
    assert names[-1] == "down"


def test_a_new_stack_whose_pipeline_fails_still_has_its_entry_points_unpaused(run) -> None:
    events, result = run(new=True, fail_pipeline=True)
    assert isinstance(result, RuntimeError)
    assert ("unpause", demo.ENTRY_DAGS) in events
    assert _names(events)[-2:] == ["unpause", "down"]


def test_a_stack_that_ran_before_lands_after_the_clock_has_settled(run) -> None:
    events, result = run(new=False, down=False)
    assert isinstance(result, demo.DemoResult)
    ups = [e for e in events if e[0] == "up"]
    assert ups == [("up", demo.COMPONENTS, False)]
    names = _names(events)
    assert names.index("settle") < names.index("land") < names.index("backfill")
    (landing,) = [e for e in events if e[0] == "land"]
    assert landing[3] == threading.current_thread().name
    assert ("unpause", demo.ENTRY_DAGS) not in events
    assert "down" not in names
