"""End-to-end tests run last.

They start the real scheduler on the session's metadata database, and it keeps running
until the session ends. Tests that run DAGs in-process with ``dag.test()`` use that same
database: a live scheduler would pick up their runs' task instances and run them in its own
environment (another warehouse schema and bucket) instead of theirs.

Two warehouses, two stacks: ``live`` is the session's stack on PostgreSQL;
``live_redshift`` a stack of its own brought up as ``sparkify stack up --warehouse
redshift`` does (the Redshift rehearsal in front of its PostgreSQL). Neither changes the
other, so the end-to-end tests may run in any order among themselves.
"""

from __future__ import annotations

import time

import pytest

from sparkify.control import PIPELINE_DAGS, trigger_and_wait, unpause, wait_for_dags
from tests.e2e.chain import fail_leftover_runs

UP_TIMEOUT_S = 240
SCHEDULED_DAGS = (*PIPELINE_DAGS, "restage_late")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: bool(item.get_closest_marker("e2e")))  # stable


def start_pipeline(stack, client) -> None:
    """The warehouse tables first (a staging DAG unpaused before them starts its scheduled
    run at once, fails, and retries five minutes later, mid-test), then the DAGs on."""
    wait_for_dags(client, ("setup", *SCHEDULED_DAGS))
    unpause(client, ("setup",))
    assert trigger_and_wait(client, "setup")["state"] == "success"
    unpause(client, SCHEDULED_DAGS)
    if leftovers := fail_leftover_runs(client):
        print(f"marked failed {len(leftovers)} runs left by earlier tests: {leftovers}")


@pytest.fixture(scope="session")
def live(stack):
    """The session's stack with all of Airflow running, and a REST client."""
    started = time.monotonic()
    stack.up(timeout=UP_TIMEOUT_S)
    print(f"airflow up in {time.monotonic() - started:.1f}s")
    with stack.api_client() as client:
        start_pipeline(stack, client)
        yield stack, client


@pytest.fixture(scope="module")
def live_redshift(stack):
    """A stack of its own, as ``sparkify stack up --warehouse redshift`` runs it (the
    Redshift rehearsal in front of its PostgreSQL, every Airflow process's ``warehouse``
    connection pointing at it), with the tables made by ``setup``'s Redshift DDL; and a
    REST client. The session's stack is left as it is, so no test depends on running
    before or after this one. Brought down after the module that asked for it."""
    import shutil
    import tempfile
    from pathlib import Path

    from sparkify.local.stack.config import ADMIN_USER
    from sparkify.local.stack.stack import Stack
    from tests.auth_grants import stack_environ

    # Not pytest's tmp_path: that is under a 0700 directory the postgres user cannot enter.
    state = Path(tempfile.mkdtemp(prefix="sparkify-redshift-e2e-"))
    state.chmod(0o755)
    redshift = Stack(state, environ=stack_environ(ADMIN_USER))
    try:
        started = time.monotonic()
        redshift.up(warehouse="redshift", timeout=UP_TIMEOUT_S)
        assert redshift.status()["redshift"]["healthy"]
        with redshift.api_client() as client:
            start_pipeline(redshift, client)
            print(f"airflow up on the Redshift rehearsal in {time.monotonic() - started:.1f}s")
            yield redshift, client
    finally:
        try:
            redshift.down()
        finally:
            shutil.rmtree(state, ignore_errors=True)
