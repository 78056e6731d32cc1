"""``stack_up_s``: ``sparkify stack up`` from a fresh state folder until every part is
healthy (PostgreSQL, S3, the metadata database, Airflow's four processes, the pools).

Measured twice on fresh state folders: ``stack_up_cold_s`` with no metadata template, so
``airflow db migrate`` runs from nothing and keeps the template, then ``stack_up_s`` as
every later fresh stack comes up, restoring it (``sparkify.local.stack.template``). The
template cache is a temporary folder of its own, so the machine's is left alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sparkify.local.stack.stack import Stack
from sparkify.local.stack.template import CACHE_ENV


def _up_once(echo: Callable[[str], None]) -> tuple[float, list[str]]:
    state = Path(tempfile.mkdtemp(prefix="sparkify-bench-up-"))
    state.chmod(0o755)
    stack = Stack(state)
    said: list[str] = []
    started = time.perf_counter()
    try:
        stack.up(timeout=300, echo=said.append)
        seconds = time.perf_counter() - started
    finally:
        try:
            stack.down()
        finally:
            shutil.rmtree(state, ignore_errors=True)
    echo(f"  stack up in {seconds:.1f}s")
    return seconds, said


def run(echo: Callable[[str], None]) -> dict:
    cache = tempfile.mkdtemp(prefix="sparkify-bench-cache-")
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = cache
    try:
        cold, cold_said = _up_once(echo)
        warm, warm_said = _up_once(echo)
    finally:
        if before is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = before
        shutil.rmtree(cache, ignore_errors=True)
    assert any("migrating" in line for line in cold_said), cold_said
    assert any("from the template" in line for line in warm_said), warm_said
    return {"stack_up_cold_s": round(cold, 1), "stack_up_s": round(warm, 1)}
