"""DAG integrity: every DAG parses as the dag-processor parses it, with the agreed wiring.

Schedules, retries, tags and docs as the pipeline agrees them; no cycles; and no work at import
time: parsing the DAG files opens no connection and reads no file but Python modules.
"""

from __future__ import annotations

import builtins
import importlib.util
import os
import socket
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from unittest import mock

import psycopg
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.common.sql.operators.sql import (
    SQLColumnCheckOperator,
    SQLTableCheckOperator,
)
from airflow.sdk import (
    Asset,
    CronPartitionTimetable,
    CronTriggerTimetable,
    PartitionedAssetTimetable,
)
from airflow.sdk.definitions.asset import AssetAll

from sparkify.pipeline import assets, partitions, pools, settings
from sparkify.pipeline.alerts import PartitionFailureNotifier
from sparkify.pipeline.operators.announce import AnnounceOperator
from sparkify.pipeline.operators.late import RestageLateHoursOperator
from sparkify.pipeline.operators.stage import StageJsonOperator
from sparkify.pipeline.sql import MODEL_LOADS, MODES

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_IDS = {
    "setup",
    "detect_landing",
    "stage_events",
    "stage_songs",
    "model",
    "quality",
    "restage_late",
    "route_notifications",
}
STAGING = ("stage_events", "stage_songs")
MODE_TEMPLATE = "{{ params.dimension_mode }}"


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def dags(bag: DagBag) -> dict:
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def test_dags_import_without_errors(bag: DagBag) -> None:
    assert bag.import_errors == {}
    assert bag.size() == len(DAG_IDS)


def test_exactly_the_pipeline_dags_each_named_as_its_file(dags: dict) -> None:
    assert set(dags) == DAG_IDS
    for dag_id, dag in dags.items():
        assert Path(dag.fileloc).stem == dag_id
        assert Path(dag.fileloc).parent == DAGS
    assert {p.stem for p in DAGS.glob("*.py") if not p.name.startswith("_")} == DAG_IDS


def test_detect_landing_is_the_hourly_clock_of_the_hour_just_ended(dags) -> None:
    timetable = dags["detect_landing"].timetable
    assert isinstance(timetable, CronPartitionTimetable)
    assert timetable.expression in ("0 * * * *", "@hourly")
    assert str(timetable.timezone) == "UTC"
    assert timetable.run_offset == -1
    # The pipeline parses partition keys strictly; the timetable must write them that way.
    assert timetable.key_format == partitions.KEY_FORMAT


def parse_with(monkeypatch, dag_id: str, **environ: str):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


QUEUE = "https://sqs.us-west-2.amazonaws.com/123456789012/sparkify-landing"


def test_route_notifications_is_scheduled_by_the_queues_watcher(monkeypatch) -> None:
    dag = parse_with(
        monkeypatch,
        "route_notifications",
        SPARKIFY_INGEST="both",
        SPARKIFY_NOTIFICATIONS_QUEUE=QUEUE,
    )
    (watched,) = dag.timetable.asset_condition.objects
    assert watched.name == "bucket_notifications"
    (watcher,) = watched.watchers
    assert watcher.trigger.serialize()[1]["sqs_queue"] == QUEUE
    assert dag.max_active_runs == 1  # batches arriving meanwhile go in the next run together
    (task,) = dag.tasks
    assert task.outlets == [assets.landed]


def test_route_notifications_without_a_queue_fails_to_parse_and_says_why(monkeypatch) -> None:
    monkeypatch.setenv("SPARKIFY_INGEST", "events")
    monkeypatch.delenv("SPARKIFY_NOTIFICATIONS_QUEUE", raising=False)
    bag = DagBag(dag_folder=str(DAGS / "route_notifications.py"))
    (error,) = bag.import_errors.values()
    assert "SPARKIFY_NOTIFICATIONS_QUEUE is not set" in error


def test_each_ingest_mode_leaves_its_entry_point_unscheduled(monkeypatch) -> None:
    events = parse_with(monkeypatch, "detect_landing", SPARKIFY_INGEST="events")
    assert events.timetable.can_be_scheduled is False
    schedule = parse_with(monkeypatch, "route_notifications", SPARKIFY_INGEST="schedule")
    assert schedule.timetable.can_be_scheduled is False


@pytest.mark.parametrize("dag_id", STAGING)
def test_staging_dags_run_for_any_key_of_landed(dags, dag_id) -> None:
    """Asset-scheduled: a manual run may carry a window's key, which a
    CronPartitionTimetable would refuse (HTTP 400) for not matching its key_format."""
    timetable = dags[dag_id].timetable
    assert isinstance(timetable, PartitionedAssetTimetable)
    assert timetable.asset_condition == assets.landed


def asset_names(condition) -> set[str]:
    if isinstance(condition, Asset):
        return {condition.name}
    assert isinstance(condition, AssetAll), f"{condition!r} is not a plain AND of assets"
    return {name for obj in condition.objects for name in asset_names(obj)}


def test_model_waits_for_both_staging_assets(dags) -> None:
    timetable = dags["model"].timetable
    assert isinstance(timetable, PartitionedAssetTimetable)
    assert isinstance(timetable.asset_condition, AssetAll)
    assert asset_names(timetable.asset_condition) == {
        assets.staged_events.name,
        assets.staged_songs.name,
    }


def test_quality_runs_on_modeled(dags) -> None:
    timetable = dags["quality"].timetable
    assert isinstance(timetable, PartitionedAssetTimetable)
    assert timetable.asset_condition == assets.modeled


def test_setup_is_unscheduled(dags) -> None:
    assert dags["setup"].schedule is None
    assert not dags["setup"].timetable.can_be_scheduled


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_defaults_tags_and_docs(dags, dag_id) -> None:
    dag = dags[dag_id]
    args = dag.default_args
    assert args["retries"] == 3
    assert args["retry_delay"] == timedelta(minutes=5)
    assert args["depends_on_past"] is False
    assert args["email_on_retry"] is False
    assert dag.catchup is False
    # One alert per failed run (partition and DAG), none per task or retry.
    callbacks = dag.on_failure_callback
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    assert any(isinstance(c, PartitionFailureNotifier) for c in callbacks), dag_id
    assert not any(t.on_failure_callback for t in dag.tasks), "alerts are per run, not task"
    assert "sparkify" in dag.tags
    assert len(dag.tags) >= 2, "a tag beyond the project's own says which layer it is"
    assert dag.doc_md
    # Mozilla's triage notes: who owns it and what to look at when it fails.
    assert "Owner:" in dag.doc_md
    assert "When it fails" in dag.doc_md
    for task in dag.tasks:
        assert task.retries == 3, task.task_id
        assert task.retry_delay == timedelta(minutes=5), task.task_id
        assert task.depends_on_past is False, task.task_id


def topological_order(dag) -> list[str]:
    """Kahn's algorithm over the task graph; raises on a cycle."""
    indegree = {t.task_id: len(t.upstream_task_ids) for t in dag.tasks}
    ready = [task_id for task_id, n in indegree.items() if n == 0]
    order = []
    while ready:
        task_id = ready.pop()
        order.append(task_id)
        for child in dag.get_task(task_id).downstream_task_ids:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    if len(order) != len(indegree):
        raise AssertionError(f"{dag.dag_id} has a cycle among {set(indegree) - set(order)}")
    return order


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_no_cycles(dags, dag_id) -> None:
    dag = dags[dag_id]
    dag.check_cycle()
    assert len(topological_order(dag)) == len(dag.tasks)


def test_topological_order_finds_a_cycle() -> None:
    """The cycle check above can fail: a DAG with a cycle is refused."""
    task_a, task_b = mock.Mock(task_id="a"), mock.Mock(task_id="b")
    task_a.upstream_task_ids = task_a.downstream_task_ids = {"b"}
    task_b.upstream_task_ids = task_b.downstream_task_ids = {"a"}
    fake = mock.Mock(dag_id="cyclic", tasks=[task_a, task_b])
    fake.get_task = {"a": task_a, "b": task_b}.__getitem__
    with pytest.raises(AssertionError, match="cycle"):
        topological_order(fake)


def test_detect_landing_is_one_sensor_that_emits_landed(dags) -> None:
    dag = dags["detect_landing"]
    (sensor,) = dag.tasks
    assert isinstance(sensor, S3KeySensor)
    assert sensor.mode == "reschedule"
    assert sensor.outlets == [assets.landed]


def test_no_dag_pins_a_prefix_of_the_bucket(dags) -> None:
    """Where the data lands is the settings' events_prefix and songs_prefix, read by each
    task at run time (tests/unit/test_prefixes.py): no task carries a prefix of its own."""
    for dag in dags.values():
        for task in dag.tasks:
            for name in ("prefix", "source_prefix", "songs_prefix"):
                assert not hasattr(task, name), f"{dag.dag_id}.{task.task_id}.{name}"
    (sensor,) = dags["detect_landing"].tasks
    assert sensor.bucket_key == ""  # the hour's prefix, set by each poke


def test_staging_never_waits_on_a_sensor(dags) -> None:
    """A backfill over past hours goes straight to staging: the waiting is detect_landing's."""
    for dag_id in STAGING:
        assert not any(isinstance(t, S3KeySensor) for t in dags[dag_id].tasks)
        assert [t.task_id for t in dags[dag_id].roots] == [dag_id]


def test_restage_late_runs_often_and_refires_both_staging_assets(dags) -> None:
    dag = dags["restage_late"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == settings.late_check_cron()
    assert str(dag.timetable.timezone) == "UTC"
    assert dag.max_active_runs == 1
    (task,) = dag.tasks
    assert isinstance(task, RestageLateHoursOperator)
    assert task.outlets == [assets.staged_events, assets.staged_songs]


@pytest.mark.parametrize(
    ("dag_id", "table", "asset"),
    [
        ("stage_events", "staging_events", assets.staged_events),
        ("stage_songs", "staging_songs", assets.staged_songs),
    ],
)
def test_staging_tasks_emit_their_asset(dags, dag_id, table, asset) -> None:
    """The staging task stages; the ``announce`` task after it emits the asset with the
    staging task's counts, in the one-slot pool."""
    dag = dags[dag_id]
    main = dag.get_task(dag_id)
    assert isinstance(main, StageJsonOperator)
    assert main.table == table
    assert main.outlets == []
    announce = dag.get_task("announce")
    assert isinstance(announce, AnnounceOperator)
    assert announce.upstream_task_ids == {dag_id}
    assert announce.staged_by == dag_id
    assert announce.outlets == [asset]
    assert announce.pool == pools.ANNOUNCE_POOL.name
    assert pools.ANNOUNCE_POOL.slots == 1


def test_no_two_emissions_of_models_assets_can_commit_at_once(dags) -> None:
    """``model`` waits for both staging assets of a key, and Airflow 3.3.2 loses the key when
    two tasks emit them at the same moment (apache/airflow#71070): every task that emits one
    emits both, or runs in the one-slot announce pool."""
    needed = {assets.staged_events, assets.staged_songs}
    emitters = [t for d in dags.values() for t in d.tasks if needed & set(t.outlets)]
    assert {t.dag_id for t in emitters} == {"stage_events", "stage_songs", "restage_late"}
    for task in emitters:
        assert set(task.outlets) >= needed or task.pool == pools.ANNOUNCE_POOL.name, task.task_id


def test_setup_emits_the_schema_asset(dags) -> None:
    (task,) = dags["setup"].tasks
    assert task.outlets == [assets.warehouse_schema]


def test_model_loads_the_whole_hour_in_one_task_with_the_mode_param(dags) -> None:
    dag = dags["model"]
    param = dag.params.get_param("dimension_mode")
    assert param.value == "upsert"
    assert param.schema["enum"] == list(MODES)
    # One task, one transaction: the five loads in the fixed order their locks are taken in.
    (task,) = dag.tasks
    assert task.task_id == "load_star_schema"
    assert task.sql_file == list(MODEL_LOADS)
    assert task.mode == MODE_TEMPLATE
    assert task.outlets == [assets.modeled]


def test_quality_uses_the_common_sql_check_operators(dags) -> None:
    dag = dags["quality"]
    column_checks = [t for t in dag.tasks if isinstance(t, SQLColumnCheckOperator)]
    table_checks = [t for t in dag.tasks if isinstance(t, SQLTableCheckOperator)]
    assert column_checks
    assert table_checks
    for task in column_checks + table_checks:
        assert type(task) not in (SQLColumnCheckOperator, SQLTableCheckOperator), (
            "a thin subclass records outcomes in check_results"
        )
        assert task.conn_id == "warehouse"
    checked = {t.table.strip('"') for t in column_checks + table_checks}
    assert {"songplays", "users", "songs", "artists", "time"} <= checked
    assert any(assets.checked in t.outlets for t in dag.tasks)


# -- no work at import time --------------------------------------------------------------


class ImportTimeWork(Exception):
    """Raised by the guards below when importing a DAG file does I/O."""


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise ImportTimeWork(f"{what} at import time: {args!r}")

    return refuse


@contextmanager
def no_io_but_python_modules() -> Iterator[None]:
    """Refuse connections and opening any file other than reading a ``.py`` module.

    ``sparkify`` is dropped from ``sys.modules`` first so that its modules are imported
    afresh under the guard too (their caches, e.g. the settings, start empty); every module
    imported inside is forgotten afterwards, so the rest of the session keeps its own.
    """
    real_open = builtins.open

    def guarded_open(file, mode="r", *args, **kwargs):
        name = file if isinstance(file, int) else os.fspath(file)
        if isinstance(name, int) or not str(name).endswith(".py") or set(mode) & set("wax+"):
            raise ImportTimeWork(f"open({file!r}, {mode!r}) at import time")
        return real_open(file, mode, *args, **kwargs)

    with mock.patch.dict(sys.modules):
        for name in [n for n in sys.modules if n == "sparkify" or n.startswith("sparkify.")]:
            del sys.modules[name]
        with (
            mock.patch("builtins.open", guarded_open),
            mock.patch("io.open", guarded_open),
            mock.patch.object(socket.socket, "connect", _refuse("socket connect")),
            mock.patch.object(socket.socket, "connect_ex", _refuse("socket connect")),
            mock.patch("psycopg.connect", _refuse("psycopg.connect")),
            mock.patch.object(psycopg.Connection, "connect", _refuse("psycopg.connect")),
            mock.patch("psycopg2.connect", _refuse("psycopg2.connect")),
        ):
            yield


@pytest.fixture(scope="module")
def warmed_up(bag: DagBag) -> None:
    """Airflow and the providers are imported (their own start-up reads are not ours)."""


def test_parsing_the_dag_folder_does_no_io(warmed_up) -> None:
    with no_io_but_python_modules():
        fresh = DagBag(dag_folder=str(DAGS))
        assert fresh.import_errors == {}
        assert set(fresh.dags) == DAG_IDS


@pytest.mark.parametrize("path", sorted(DAGS.glob("*.py")), ids=lambda p: p.stem)
def test_importing_each_dag_file_does_no_io(warmed_up, path: Path) -> None:
    with no_io_but_python_modules():
        spec = importlib.util.spec_from_file_location(f"fresh_dag_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.__doc__
        assert callable(getattr(module, path.stem))


WORK_AT_IMPORT = {
    "reads_settings": "from sparkify.pipeline import settings\nsettings.current()\n",
    "reads_a_file": "open(__file__.replace('.py', '.txt')).read()\n",
    "connects_to_postgres": "import psycopg\npsycopg.connect('host=127.0.0.1 port=1')\n",
    "opens_a_socket": "import socket\nsocket.create_connection(('127.0.0.1', 1), timeout=1)\n",
}


@pytest.mark.parametrize("body", WORK_AT_IMPORT.values(), ids=WORK_AT_IMPORT.keys())
def test_the_guard_catches_work_at_import_time(warmed_up, tmp_path: Path, body: str) -> None:
    """The checks above can fail: a DAG file doing I/O at import is reported."""
    (tmp_path / "busy.txt").write_text("x")
    (tmp_path / "busy.py").write_text(
        textwrap.dedent(
            """
            from airflow.sdk import dag

            @dag(schedule=None)
            def busy():
                pass

            busy()
            """
        )
        + body
    )
    with no_io_but_python_modules():
        parsed = DagBag(dag_folder=str(tmp_path))
    (error,) = parsed.import_errors.values()
    assert "ImportTimeWork" in error
    assert not parsed.dags
