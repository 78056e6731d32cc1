"""The floor: the pipeline's four DAGs with every task replaced by one that does nothing.

For the benchmark stack only, not part of the product: ``airflow_stack.link_dags`` links
this module (as ``_floor.py``, which the dag-processor ignores) and the DAG files of
``benchmarks/floor_dags/`` into the stack's DAG folder beside the real ``dags/*.py``. One
file per floor DAG, each loading only its real DAG file: a task process parses the file of
its DAG, and should pay what the real task's process pays for it, no more.

Each floor DAG is built from the real DAG of the same name, loaded from ``dags/``: the same
task ids and
dependencies (so ``floor_quality`` follows ``quality`` however many checks it has), the same
timetable class, ``max_active_runs``, ``max_active_tasks`` and ``default_args``, and Assets
of its own (``floor_staged_events`` ...) chaining it the way the real Assets chain the real
DAGs. What is left when the work is gone is what Airflow itself costs per partition.

The tasks run in a worker like real ones: an ``EmptyOperator`` would not (the scheduler marks
it successful without running it), which would leave out the task process that every real
task pays for.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from airflow.sdk import (
    Asset,
    BaseOperator,
    PartitionedAssetTimetable,
    dag,
)
from airflow.sdk.definitions._internal.contextmanager import DagContext

PREFIX = "floor_"
REAL_DAGS = Path(__file__).resolve().parents[1] / "dags"  # resolved: __file__ is a link

floor_landed = Asset(name="floor_landed", uri="floor://landed")
floor_staged_events = Asset(name="floor_staged_events", uri="floor://staged_events")
floor_staged_songs = Asset(name="floor_staged_songs", uri="floor://staged_songs")
floor_modeled = Asset(name="floor_modeled", uri="floor://modeled")
floor_checked = Asset(name="floor_checked", uri="floor://checked")
FLOOR_ASSETS = {
    a.name.removeprefix(PREFIX): a
    for a in (floor_staged_events, floor_staged_songs, floor_modeled, floor_checked)
}


class NoopOperator(BaseOperator):
    """Runs in a task process and does nothing."""

    def execute(self, context: Any) -> None:
        return None


def real_dag(name: str):
    """The DAG ``dags/<name>.py`` defines, built without registering it from this file
    (it would otherwise be this file's DAG too, and clash with the real one)."""
    spec = importlib.util.spec_from_file_location(f"_floor_real_{name}", REAL_DAGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    saved = DagContext.current_autoregister_module_name
    DagContext.current_autoregister_module_name = None
    try:
        spec.loader.exec_module(module)
        return getattr(module, name)()  # the module's @dag function builds it again
    finally:
        DagContext.current_autoregister_module_name = saved


def floor_dag(real, schedule) -> Any:
    """``real`` with its tasks replaced by no-ops and its outlets by the floor Assets."""

    @dag(
        dag_id=PREFIX + real.dag_id,
        schedule=schedule,
        start_date=real.start_date,
        catchup=real.catchup,
        default_args=dict(real.default_args),
        max_active_runs=real.max_active_runs,
        max_active_tasks=real.max_active_tasks,
        # Kept out of the way until the benchmark asks for it.
        is_paused_upon_creation=True,
        tags=["sparkify-benchmark", "floor"],
    )
    def build():
        tasks = {}
        for task in real.tasks:
            outlets = [FLOOR_ASSETS[a.name] for a in task.outlets]
            tasks[task.task_id] = NoopOperator(
                task_id=task.task_id, outlets=outlets, pool=task.pool
            )
        for task in real.tasks:
            for downstream in task.downstream_task_ids:
                tasks[task.task_id] >> tasks[downstream]

    return build()


def _staging_schedule(real) -> PartitionedAssetTimetable:
    """The staging DAGs run for each key of ``landed``: the floor's, for each of its own."""
    if not isinstance(real.timetable, PartitionedAssetTimetable):
        raise TypeError(f"{real.dag_id}: expected a PartitionedAssetTimetable")
    return PartitionedAssetTimetable(assets=floor_landed)


def _asset_schedule(real, assets) -> PartitionedAssetTimetable:
    if not isinstance(real.timetable, PartitionedAssetTimetable):
        raise TypeError(f"{real.dag_id}: expected a PartitionedAssetTimetable")
    return PartitionedAssetTimetable(assets=assets)


def build(name: str):
    """The floor DAG of the real DAG ``name`` (``stage_events``, ..., ``quality``)."""
    real = real_dag(name)
    if name in ("stage_events", "stage_songs"):
        return floor_dag(real, _staging_schedule(real))
    upstream = {
        "model": floor_staged_events & floor_staged_songs,
        "quality": floor_modeled,
    }
    return floor_dag(real, _asset_schedule(real, upstream[name]))
