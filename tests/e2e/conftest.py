"""End-to-end tests run last.

They start the real scheduler on the session's metadata database, and it keeps running
until the session ends. Tests that run DAGs in-process with ``dag.test()`` use that same
database: a live scheduler would pick up their runs' task instances and run them in its own
environment (another warehouse schema and bucket) instead of theirs.
"""

from __future__ import annotations

import time

import pytest

from sparkify.control import PIPELINE_DAGS, trigger_and_wait, unpause, wait_for_dags
from tests.e2e.chain import fail_leftover_runs

UP_TIMEOUT_S = 240


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    if e2e:
        others = [item for item in items if not item.get_closest_marker("e2e")]
        items[:] = others + e2e


@pytest.fixture(scope="session")
def live(stack):
    """The session's stack with all of Airflow running, and a REST client."""
    started = time.monotonic()
    stack.up(timeout=UP_TIMEOUT_S)
    print(f"airflow up in {time.monotonic() - started:.1f}s")
    with stack.api_client() as client:
        wait_for_dags(client, ("setup", "restage_late", *PIPELINE_DAGS))
        # The warehouse tables first: a staging DAG unpaused before them starts its
        # scheduled run at once, fails, and retries five minutes later, mid-test.
        unpause(client, ("setup",))
        assert trigger_and_wait(client, "setup")["state"] == "success"
        unpause(client, PIPELINE_DAGS)
        if leftovers := fail_leftover_runs(client):
            print(f"marked failed {len(leftovers)} runs left by in-process tests: {leftovers}")
        yield stack, client
