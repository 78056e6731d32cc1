"""End-to-end tests run last.

They start the real scheduler on the session's metadata database, and it keeps running
until the session ends. Tests that run DAGs in-process with ``dag.test()`` use that same
database: a live scheduler would pick up their runs' task instances and run them in its own
environment (another warehouse schema and bucket) instead of theirs.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    if e2e:
        others = [item for item in items if not item.get_closest_marker("e2e")]
        items[:] = others + e2e
