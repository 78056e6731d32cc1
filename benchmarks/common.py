"""Shared by the benchmarks: a private stack, timing, medians, the 1M-event object."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import psycopg

EVENTS_PER_HOUR_1M = 42_000  # a generated day at this rate is about a million events


@contextmanager
def bench_stack(components=("postgres", "s3")):
    """A private stack in a temporary folder, stopped and removed afterwards."""
    from sparkify.local.stack.stack import Stack

    state = Path(tempfile.mkdtemp(prefix="sparkify-bench-", dir="/tmp"))
    os.chmod(state, 0o755)
    stack = Stack(state)
    stack.init_config()
    saved = dict(os.environ)
    os.environ.update(stack.env())
    try:
        stack.up(components)
        yield stack
    finally:
        stack.down(purge=True)
        os.environ.clear()
        os.environ.update(saved)


def s3_client():
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def connect(stack) -> psycopg.Connection:
    return psycopg.connect(stack.warehouse_dsn())


def model_params(hour) -> dict:
    """The bound parameters of the model SQL for one hour (naive or aware UTC), as the
    ``model`` DAG binds them for a run keyed by that hour."""
    from datetime import UTC

    from sparkify.pipeline.partitions import Window

    aware = hour if hour.tzinfo is not None else hour.replace(tzinfo=UTC)
    return Window.of_hour(aware).params()


def create_schema(conn: psycopg.Connection) -> None:
    from sparkify.pipeline.sql import render, statements

    with conn.transaction():
        for sql in statements(render("schema/create_tables")):
            conn.execute(sql)


def events_file(workdir: Path, days: int, seed: int = 7) -> tuple[Path, int]:
    """One file holding ``days`` generated days of events (~1M a day); returns it and its lines."""
    from sparkify.local.generate.dataset import generate

    out = workdir / f"gen-{days}"
    generate(
        out,
        start=date(2018, 11, 1),
        days=days,
        events_per_hour=EVENTS_PER_HOUR_1M,
        songs=2000,
        seed=seed,
        match_rate=0.1,
        dirty=0.0,
        progress=False,
    )
    target = workdir / f"events-{days}d.json"
    lines = 0
    with target.open("wb") as sink:
        for day_file in sorted((out / "log_data").rglob("*.json")):
            data = day_file.read_bytes()
            sink.write(data if data.endswith(b"\n") else data + b"\n")
            lines += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return target, lines


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def alternate(contenders: dict[str, Callable[[], int]], repeats: int) -> dict[str, list[float]]:
    """Run each contender ``repeats`` times, interleaved; returns rows/s per run."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            seconds, rows = timed(fn)
            rates[name].append(rows / seconds)
    return rates


def median(values: list[float]) -> float:
    return statistics.median(values)
