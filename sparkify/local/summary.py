"""The demo's summary (the ``--json`` document of ``sparkify demo``): warehouse counts, the
runs and checks of the range, and which host ran its task instances.

The warehouse is read through PostgreSQL (``Stack.warehouse_dsn``) with the queries in
``sql/demo/``; runs and task instances come from the REST API. ``sparkify.cli.demo``
prints it and writes it as JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sparkify.control import FINISHED, PIPELINE_DAGS, count_states, fetch_runs, latest_by_key
from sparkify.pipeline import partitions
from sparkify.pipeline.sql import render, statements

if TYPE_CHECKING:
    from sparkify.control.api import ApiClient
    from sparkify.local.stack.stack import Stack

TABLES = ("staging_events", "staging_songs", "songplays", "users", "songs", "artists", "time")
LINE_COUNTERS = ("read", "staged", "rejected", "duplicate", "coerced")
PARTITIONED_TABLES = ("staging_events", "staging_songs", "songplays")  # by partition_hour


def _sql(name: str, **context: object) -> str:
    (sql,) = statements(render(f"demo/{name}", **context))
    return sql


def collect_summary(
    stack: Stack,
    hours: Sequence[datetime],
    latest: dict[str, dict[str, dict[str, Any]]],
    *,
    seconds: float,
    client: ApiClient | None = None,
    keys: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``--json`` document: warehouse counts, and runs and checks of the range.

    ``latest`` is ``wait_for_partitions``'s answer; DAGs missing from it are asked for
    through ``client`` (latest run per key, whenever it ran). ``keys``: the runs' keys
    (the range's windows; default: its hours).
    """
    keys = list(keys) if keys is not None else [partitions.format_key(h) for h in hours]
    runs = {}
    for dag_id in PIPELINE_DAGS:
        if dag_id not in latest and client is not None:
            done = fetch_runs(client, dag_id, keys, states=FINISHED)
            latest = {**latest, dag_id: latest_by_key(done)}
        runs[dag_id] = count_states(latest.get(dag_id, {}))
    dsn = stack.warehouse_dsn()
    return {
        **warehouse_summary(dsn, hours[0], hours[-1]),
        "runs": runs,
        "checks": warehouse_checks(dsn, hours[0], hours[-1]),
        "seconds": seconds,
    }


def task_instances_per_host(
    client: ApiClient, latest: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, int]:
    """How many task instances of the runs in ``latest`` (DAG -> key -> run) each hostname
    ran, from the REST API (a task's latest try; with the CeleryExecutor, the worker's)."""
    runs = {
        (dag_id, run["dag_run_id"]) for dag_id, by_key in latest.items() for run in by_key.values()
    }
    counts: Counter[str] = Counter()
    if not runs:
        return {}
    body = {
        "dag_ids": sorted({dag_id for dag_id, _ in runs}),
        "dag_run_ids": sorted({run_id for _, run_id in runs}),
        "page_limit": 100,
        "order_by": "id",
    }
    offset = 0
    while True:
        page = client.post(
            "/dags/~/dagRuns/~/taskInstances/list", json={**body, "page_offset": offset}
        )
        tis = page["task_instances"]
        for ti in tis:
            if (ti["dag_id"], ti["dag_run_id"]) in runs and ti.get("hostname"):
                counts[ti["hostname"]] += 1
        offset += len(tis)
        if not tis or offset >= page["total_entries"]:
            return dict(sorted(counts.items()))


def warehouse_summary(dsn: str, first: datetime, last: datetime) -> dict[str, Any]:
    """Rows per table (the whole warehouse), matched plays, the range's lines from
    ``staging_partitions``, and the rows of the partitioned tables that lie outside the
    range (``outside_range``: a warehouse used before holds them too, and ``tables``
    counts them)."""
    import psycopg

    hours = {"first_hour": partitions.naive_utc(first), "last_hour": partitions.naive_utc(last)}
    with psycopg.connect(dsn) as conn:

        def exists(table: str) -> bool:
            return conn.execute(_sql("find_table"), {"table": table}).fetchone()[0] is not None

        def count(name: str, params: dict[str, Any] | None = None, **context: object) -> int:
            return int(conn.execute(_sql(name, **context), params).fetchone()[0])

        tables = {
            table: count("count_rows", table=table) if exists(f'"{table}"') else 0
            for table in TABLES
        }
        matched = count("count_matched_plays") if tables["songplays"] else 0
        lines = dict.fromkeys(LINE_COUNTERS, 0)
        if exists("staging_partitions"):
            row = conn.execute(_sql("sum_event_lines"), hours).fetchone()
            lines = {name: int(value) for name, value in zip(LINE_COUNTERS, row, strict=True)}
        outside = {
            table: count("count_outside_range", hours, table=table) if tables.get(table) else 0
            for table in PARTITIONED_TABLES
        }
    return {
        "tables": tables,
        "songplays_matched": int(matched),
        "lines": lines,
        "outside_range": outside,
    }


def warehouse_checks(dsn: str, first: datetime, last: datetime) -> dict[str, int]:
    """Passed and failed checks of the range: the latest outcome of each check, table and
    partition (a check re-run after a fix counts once, as it ended)."""
    import psycopg

    hours = {"first_hour": partitions.naive_utc(first), "last_hour": partitions.naive_utc(last)}
    with psycopg.connect(dsn) as conn:
        if conn.execute(_sql("find_table"), {"table": "check_results"}).fetchone()[0] is None:
            return {"passed": 0, "failed": 0}
        rows = conn.execute(_sql("count_checks"), hours).fetchall()
    counts = {bool(passed): int(n) for passed, n in rows}
    return {"passed": counts.get(True, 0), "failed": counts.get(False, 0)}


def summary_problems(summary: dict[str, Any], partitions_expected: int) -> list[str]:
    """Why the demo failed: failed or missing runs, failed checks; empty when it did not."""
    problems = []
    for dag_id, counts in summary["runs"].items():
        if counts["failed"]:
            problems.append(f"{dag_id}: {counts['failed']} partition(s) failed")
        missing = partitions_expected - counts["success"] - counts["failed"]
        if missing:
            problems.append(f"{dag_id}: {missing} partition(s) without a finished run")
    if summary["checks"]["failed"]:
        problems.append(f"{summary['checks']['failed']} check(s) failed")
    return problems
