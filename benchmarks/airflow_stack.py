"""The full local stack for the benchmarks that need Airflow's scheduler (latency, backfill).

A private stack in a temporary folder, as ``common.bench_stack`` makes, with every component
(PostgreSQL, S3, the metadata database and Airflow's four processes). Its DAG folder is a
temporary folder of links: the real ``dags/*.py`` and the floor's (``floor.py``). The
schema is created by the ``setup`` DAG and a small generated data set is landed, so that the
pipeline's DAGs run for real. ``airflow_env`` overrides Airflow settings of the stack's
environment (``AIRFLOW__SECTION__KEY``), to measure what a setting changes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sparkify.control import PIPELINE_DAGS, trigger_and_wait, unpause, wait_for_dags
from sparkify.local.demo import land_data, settle
from sparkify.local.stack.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
FLOOR_LIB = Path(__file__).with_name("floor.py")
FLOOR_FOLDER = Path(__file__).with_name("floor_dags")
FLOOR_DAGS = tuple(f"floor_{dag_id}" for dag_id in PIPELINE_DAGS)
FLOOR_STAGING = FLOOR_DAGS[:2]
FLOOR_ASSET_DAGS = FLOOR_DAGS[2:]
DATA_START = date(2018, 11, 1)
PAUSED_AT_CREATION = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}


class BenchAirflowStack(Stack):
    """A ``Stack`` whose environment carries extra Airflow settings."""

    def __init__(self, state_dir: Path, airflow_env: Mapping[str, str] | None = None) -> None:
        super().__init__(state_dir)
        self.airflow_env = dict(airflow_env or {})

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.airflow_env}


@dataclass
class Live:
    """A running benchmark stack: the stack, a REST client and the data landed."""

    stack: BenchAirflowStack
    client: Any
    days: int
    data: Path
    seconds_up: float


def link_dags(
    folder: Path,
    real: Path = ROOT / "dags",
    floor: Path = FLOOR_FOLDER,
    floor_lib: Path = FLOOR_LIB,
) -> Path:
    """``folder`` with a link to every real DAG file and every floor DAG file, and to the
    floor's module as ``_floor.py``, which ``.airflowignore`` keeps from being parsed."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (*sorted(real.glob("*.py")), *sorted(floor.glob("*.py"))):
        (folder / path.name).symlink_to(path)
    (folder / "_floor.py").symlink_to(floor_lib)
    (folder / ".airflowignore").write_text("_floor\\.py\n")
    return folder


@contextmanager
def airflow_stack(
    *,
    days: int,
    events_per_hour: float,
    seed: int = 11,
    airflow_env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = lambda _msg: None,
) -> Iterator[Live]:
    """The full stack, ``setup`` run, ``days`` days of generated data landed; then down."""
    from sparkify.local.generate.dataset import generate

    state = Path(tempfile.mkdtemp(prefix="sparkify-bench-af-", dir="/tmp"))
    os.chmod(state, 0o755)
    dags = link_dags(Path(tempfile.mkdtemp(prefix="sparkify-bench-dags-", dir="/tmp")))
    data = Path(tempfile.mkdtemp(prefix="sparkify-bench-data-", dir="/tmp"))
    saved = dict(os.environ)
    os.environ["SPARKIFY_DAGS_FOLDER"] = str(dags)
    stack = BenchAirflowStack(state, {**PAUSED_AT_CREATION, **(airflow_env or {})})
    try:
        stack.init_config()
        os.environ.update(stack.env())
        started = time.monotonic()
        stack.up(timeout=300.0, echo=echo)
        seconds_up = time.monotonic() - started
        echo(f"stack up in {seconds_up:.0f}s")
        generate(data, start=DATA_START, days=days, events_per_hour=events_per_hour, seed=seed)
        with stack.api_client() as client:
            wait_for_dags(client, ("setup", *PIPELINE_DAGS, *FLOOR_DAGS))
            unpause(client, ("setup",))
            run = trigger_and_wait(client, "setup")
            if run["state"] != "success":
                raise RuntimeError(f"setup failed: {run}")
            # Only now: a scheduled run started before the tables exist fails and then
            # holds stage_songs' only slot for the 5 minutes until its retry.
            unpause(client, PIPELINE_DAGS)
            settle(client)  # today's scheduled stage_songs run must not take the songs
            last = date.fromordinal(DATA_START.toordinal() + days - 1)
            report = land_data(stack, data, DATA_START, last)
            echo(f"landed {report['lines']} event lines, {report['song_files']} song files")
            yield Live(stack, client, days, data, seconds_up)
    finally:
        stack.down(purge=True)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(dags, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
