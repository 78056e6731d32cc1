"""Run a DAG in-process with ``dag.test()`` for one partition key."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from sparkify.pipeline import partitions

DAGS = Path(__file__).resolve().parents[2] / "dags"


def dagbag():
    """Every DAG of ``dags/``, parsed as the dag-processor parses them."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def load_dag(dag_id: str):
    bag = dagbag()
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


def run_for_partition(dag, key: str, **kwargs):
    """``dag.test()`` with the run's ``partition_key`` set, as the scheduler would set it.

    ``dag.test()`` has no partition argument, so the run it creates is given its key here.
    """
    from airflow.models import dagrun as dagrun_module

    original = dagrun_module.get_or_create_dagrun
    hour = partitions.parse_window(key).start  # an hour's key, or a window's

    def with_partition(*args, **kw):
        run = original(*args, **kw)
        run.partition_key = key
        run.partition_date = hour
        kw["session"].merge(run)
        kw["session"].commit()
        return run

    for task in dag.tasks:
        task.retries = 0  # a failure must show now, not after the production retry delay
    # Airflow 3.3.2's dag.test() cannot finish a run of a DAG with a DeadlineAlert: when the
    # run ends it looks the alert up by id but passes the alert itself (psycopg2 "can't adapt
    # type 'dict'"). The deadline is the scheduler's business, tested end to end
    # (tests/e2e/test_dirty_end_to_end.py); in-process runs go without it.
    with (
        mock.patch.object(dagrun_module, "get_or_create_dagrun", with_partition),
        mock.patch.object(dag, "deadline", None),
    ):
        return dag.test(**kwargs)
