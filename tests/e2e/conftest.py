"""End-to-end tests run last.

They start the real scheduler on the session's metadata database, and it keeps running
until the session ends. Tests that run DAGs in-process with ``dag.test()`` use that same
database: a live scheduler would pick up their runs' task instances and run them in its own
environment (another warehouse schema and bucket) instead of theirs.

Two warehouses, one stack: ``live`` is the session's stack on PostgreSQL; ``live_redshift``
brings that same stack down and up again as ``sparkify stack up --warehouse redshift``
does (the Redshift rehearsal in front of the same PostgreSQL, the ``warehouse`` connection
of every Airflow process pointing at it). That cannot be undone cheaply, so the tests that
use it (marked ``redshift``) run after every other one.
"""

from __future__ import annotations

import sys
import time

import psycopg
import pytest

from sparkify.control import PIPELINE_DAGS, dag_info, trigger_and_wait, unpause, wait_for_dags
from tests.e2e.chain import WAREHOUSE_TABLES, fail_leftover_runs, mark_failed

UP_TIMEOUT_S = 240
SCHEDULED_DAGS = (*PIPELINE_DAGS, "restage_late")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        if not item.get_closest_marker("e2e"):
            return 0
        return 2 if item.get_closest_marker("redshift") else 1

    items.sort(key=rank)  # stable: the order within each group stays


def start_pipeline(stack, client) -> None:
    """The warehouse tables first (a staging DAG unpaused before them starts its scheduled
    run at once, fails, and retries five minutes later, mid-test), then the DAGs on."""
    wait_for_dags(client, ("setup", *SCHEDULED_DAGS))
    unpause(client, ("setup",))
    assert trigger_and_wait(client, "setup")["state"] == "success"
    unpause(client, SCHEDULED_DAGS)
    if leftovers := fail_leftover_runs(client):
        print(f"marked failed {len(leftovers)} runs left by earlier tests: {leftovers}")


def stop_every_run(client) -> None:
    """Pause the scheduled DAGs and fail every run still queued or running, the current
    hour's scheduled ones too: none may touch the warehouse while its tables are made again
    (a try failed on a missing table retries minutes later, into the next test)."""
    for dag_id in SCHEDULED_DAGS:
        if not dag_info(client, dag_id)["is_paused"]:
            client.patch(f"/dags/{dag_id}", json={"is_paused": True}, update_mask="is_paused")
    for dag_id in SCHEDULED_DAGS:
        active = client.get(f"/dags/{dag_id}/dagRuns", state=["queued", "running"], limit=100)
        for run in active["dag_runs"]:
            mark_failed(client, dag_id, run["dag_run_id"])


@pytest.fixture(scope="session")
def live(stack):
    """The session's stack with all of Airflow running, and a REST client."""
    started = time.monotonic()
    stack.up(timeout=UP_TIMEOUT_S)
    print(f"airflow up in {time.monotonic() - started:.1f}s")
    with stack.api_client() as client:
        start_pipeline(stack, client)
        yield stack, client


@pytest.fixture(scope="session")
def live_redshift(live):
    """The session's stack again, as ``sparkify stack up --warehouse redshift`` runs it,
    with the warehouse tables made anew by ``setup``'s Redshift DDL; and a REST client.

    The stack goes down whole and comes up again (its state kept: the metadata database,
    the warehouse database), as a user switches warehouses; ``live`` then has the same
    stack, on Redshift.
    """
    stack, client = live
    started = time.monotonic()
    stop_every_run(client)
    # This process's pooled connections to the metadata database would outlive its server.
    if (airflow_settings := sys.modules.get("airflow.settings")) is not None:
        airflow_settings.dispose_orm()
    stack.down()
    stack.up(warehouse="redshift", timeout=UP_TIMEOUT_S)
    assert stack.status()["redshift"]["healthy"]
    # The PostgreSQL DDL's tables go, so that setup creates the Redshift DDL's, through
    # the rehearsal, as on a new cluster.
    with psycopg.connect(stack.warehouse_dsn(), autocommit=True) as conn:
        for table in WAREHOUSE_TABLES:
            conn.execute(f'DROP TABLE IF EXISTS public."{table}" CASCADE')
    with stack.api_client() as redshift_client:
        start_pipeline(stack, redshift_client)
        print(f"airflow up again on the Redshift rehearsal in {time.monotonic() - started:.1f}s")
        yield stack, redshift_client
