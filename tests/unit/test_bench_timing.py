"""The benchmarks' arithmetic on REST API records: latency, throughput, where time goes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks import timing
from benchmarks.airflow_stack import link_dags

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def at(seconds: float) -> str:
    """An ISO timestamp ``seconds`` after T0, as the API writes it."""
    stamp = T0.timestamp() + seconds
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def ti(dag_id, task_id, start, end, *, run="r1", scheduled=None, queued=None, state="success"):
    return {
        "dag_id": dag_id,
        "task_id": task_id,
        "dag_run_id": run,
        "state": state,
        "scheduled_when": at(scheduled) if scheduled is not None else None,
        "queued_when": at(queued) if queued is not None else None,
        "start_date": at(start) if start is not None else None,
        "end_date": at(end) if end is not None else None,
    }


STAGING = [
    ti("stage_events", "wait_for_events", 0.0, 1.0),
    ti("stage_events", "stage_events", 1.5, 3.0),  # emits staged_events
    ti("stage_songs", "stage_songs", 0.5, 4.0),  # emits staged_songs: completes the trigger
]
TRIGGERS = {("stage_events", "stage_events"), ("stage_songs", "stage_songs")}
MODEL_RUN = {"queued_at": at(4.25), "start_date": at(4.5), "end_date": at(12.0)}
MODEL_TIS = [ti("model", "load_artists", 6.0, 7.0), ti("model", "load_songs", 4.75, 5.5)]
QUALITY_RUN = {"end_date": at(20.0)}


def test_chain_latency_counts_from_the_staging_task_that_completed_the_trigger():
    sample = timing.chain_latency(STAGING, MODEL_RUN, MODEL_TIS, QUALITY_RUN, TRIGGERS)
    assert sample == {
        "model_run_created_s": 0.25,  # 4.25 - 4.0 (stage_songs ended last of the two)
        "model_start_latency_s": 0.75,  # first model task (load_songs) at 4.75
        "quality_end_latency_s": 16.0,
    }


def test_chain_latency_without_trigger_tasks_counts_from_the_last_staging_task():
    # A staging task that emits nothing model waits for, ending after model started.
    staging = [*STAGING, ti("stage_events", "notify", 3.2, 6.0)]
    assert (
        timing.chain_latency(staging, MODEL_RUN, MODEL_TIS, QUALITY_RUN, TRIGGERS)[
            "model_start_latency_s"
        ]
        == 0.75
    )
    sample = timing.chain_latency(staging, MODEL_RUN, MODEL_TIS, QUALITY_RUN)
    assert sample["model_start_latency_s"] == -1.25
    assert sample["quality_end_latency_s"] == 14.0


def test_chain_latency_needs_every_time():
    with pytest.raises(ValueError, match="missing"):
        timing.chain_latency(STAGING, MODEL_RUN, MODEL_TIS, {"end_date": None}, TRIGGERS)
    unstarted = [ti("model", "load_songs", None, None, state="queued")]
    with pytest.raises(ValueError, match="missing"):
        timing.chain_latency(STAGING, MODEL_RUN, unstarted, QUALITY_RUN, TRIGGERS)


def test_partitions_per_minute():
    assert timing.partitions_per_minute(168, 420.0) == 24.0
    assert timing.partitions_per_minute(24, 90.0) == 16.0
    with pytest.raises(ValueError, match="positive"):
        timing.partitions_per_minute(24, 0)


def test_chain_elapsed_is_to_the_last_run_end():
    runs = [{"end_date": at(30.0)}, {"end_date": at(95.5)}, {"end_date": None}]
    assert timing.chain_elapsed(T0, runs) == 95.5
    with pytest.raises(ValueError, match="no run has ended"):
        timing.chain_elapsed(T0, [{"end_date": None}])


def test_profile_separates_scheduling_gaps_from_task_durations():
    runs = {
        "r1": {"start_date": at(0.0), "end_date": at(10.0)},
        "r2": {"start_date": at(5.0), "end_date": at(11.0)},
    }
    upstream = {"a": [], "b": ["a"]}
    tis = [
        # r1: a ready at run start 0, scheduled 0.5, queued 0.6, started 1.6, ran 2 s
        ti("d", "a", 1.6, 3.6, run="r1", scheduled=0.5, queued=0.6),
        # b ready when a ended (3.6), scheduled 4.6, queued 4.7, started 5.2, ran 1 s
        ti("d", "b", 5.2, 6.2, run="r1", scheduled=4.6, queued=4.7),
        # r2: a ready at 5, scheduled 5.5, queued 5.5, started 6.0, ran 4 s
        ti("d", "a", 6.0, 10.0, run="r2", scheduled=5.5, queued=5.5),
        # an unfinished one is left out
        ti("d", "b", None, None, run="r2", scheduled=None, queued=None, state="scheduled"),
    ]
    profile = timing.profile_tis(tis, upstream, runs)
    assert profile["ready_to_scheduled"]["n"] == 3
    assert profile["ready_to_scheduled"]["sum"] == pytest.approx(2.0)  # 0.5 + 1.0 + 0.5
    assert profile["ready_to_scheduled"]["median"] == pytest.approx(0.5)
    assert profile["scheduled_to_queued"]["sum"] == pytest.approx(0.2)
    assert profile["queued_to_start"]["median"] == pytest.approx(0.5)  # 1.0, 0.5, 0.5
    assert profile["duration"]["sum"] == pytest.approx(7.0)
    assert profile["duration"]["max"] == pytest.approx(4.0)
    assert profile["run_wall"] == {"n": 2, "median": 8.0, "mean": 8.0, "max": 10.0, "sum": 16.0}


def test_asset_hops_from_the_last_upstream_run_end_to_the_downstream_start():
    events = {"k1": {"end_date": at(10.0)}, "k2": {"end_date": at(20.0)}}
    songs = {"k1": {"end_date": at(12.0)}, "k2": {"end_date": at(15.0)}}
    model = {"k1": {"start_date": at(13.0)}, "k2": {"start_date": at(23.0)}, "k3": {}}
    hops = timing.asset_hops([events, songs], model)
    assert hops["n"] == 2
    assert hops["median"] == pytest.approx(2.0)  # 1.0 and 3.0
    assert hops["max"] == pytest.approx(3.0)


def test_the_benchmark_dag_folder_links_the_real_dags_and_the_floor(tmp_path):
    real, floor = tmp_path / "dags", tmp_path / "floor_dags"
    real.mkdir()
    floor.mkdir()
    for name in ("model.py", "quality.py"):
        (real / name).write_text("# a dag\n")
    (floor / "floor_model.py").write_text("# floor dag\n")
    lib = tmp_path / "floor.py"
    lib.write_text("# floor module\n")
    folder = link_dags(tmp_path / "bench", real, floor, lib)
    assert sorted(p.name for p in folder.iterdir()) == [
        ".airflowignore",
        "_floor.py",
        "floor_model.py",
        "model.py",
        "quality.py",
    ]
    assert (folder / "model.py").resolve() == real / "model.py"
    assert (folder / "_floor.py").read_text() == "# floor module\n"
    # the module is imported by the floor DAG files, not parsed as one
    assert (folder / ".airflowignore").read_text() == "_floor\\.py\n"


def test_the_floor_dags_parse_and_mirror_the_real_dags(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    folder = link_dags(tmp_path / "bench")
    # Airflow puts its DAG folder on sys.path; the floor DAG files import _floor from it.
    monkeypatch.syspath_prepend(str(folder))
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    for name in ("stage_events", "stage_songs", "model", "quality"):
        real, floor = bag.dags[name], bag.dags[f"floor_{name}"]
        assert {t.task_id: t.downstream_task_ids for t in floor.tasks} == {
            t.task_id: t.downstream_task_ids for t in real.tasks
        }
        assert {t.task_id: t.pool for t in floor.tasks} == {t.task_id: t.pool for t in real.tasks}
        assert type(floor.timetable) is type(real.timetable)
        assert floor.max_active_runs == real.max_active_runs
        assert {a.name for t in floor.tasks for a in t.outlets} == {
            f"floor_{a.name}" for t in real.tasks for a in t.outlets
        }


def test_latency_counts_from_the_tasks_that_emit_what_model_waits_for():
    from airflow.dag_processing.dagbag import DagBag

    from benchmarks.latency import TRIGGER_TASKS
    from sparkify.pipeline import assets

    bag = DagBag(dag_folder=str(Path(__file__).parents[2] / "dags"))
    emitters = {
        (dag_id, task.task_id)
        for dag_id in ("stage_events", "stage_songs")
        for task in bag.dags[dag_id].tasks
        if {assets.staged_events, assets.staged_songs} & set(task.outlets)
    }
    assert emitters == TRIGGER_TASKS


def test_union_seconds_counts_overlapping_spans_once():
    def span(start, end):
        return (timing.parse_time(at(start)), timing.parse_time(at(end)))

    assert timing.union_seconds([]) == 0.0
    # 0-4 and 2-5 overlap (5 s), 3-4 lies inside them, 7-8 stands apart (1 s).
    spans = [span(7, 8), span(2, 5), span(0, 4), span(3, 4)]
    assert timing.union_seconds(spans) == 6.0
