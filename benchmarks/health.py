"""``health_page_year_s``: the partition health page and its data for a year of hourly
partitions (8,760 hours x 4 DAGs), through the api-server's real plugin app over HTTP.

A year before the benchmark's own data (2017) is filled in the stack's warehouse
(``staging_partitions`` for both datasets, rejects, song plays, check outcomes with some
failures) and in Airflow's metadata database (one finished run per DAG and hour, a few
failed, written through Airflow's ORM table). Then ``GET /sparkify/?from=..&to=..`` (the
HTML page, data included) and ``GET /sparkify/data`` are timed with a bearer token, as the
UI's browser would fetch them; medians of ``repeats``. The pipeline DAGs are paused and no
task runs while it is timed (the scheduled runs of the current hour would otherwise share
the two cores with the api-server).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from benchmarks.common import median
from sparkify.health.model import GRID_DAGS

YEAR_START = datetime(2017, 1, 1, tzinfo=UTC)  # no other benchmark data lands in 2017
HOURS = 8760


def fill_warehouse(dsn: str, first: datetime, hours: int) -> None:
    last = first + timedelta(hours=hours - 1)
    span = (first.replace(tzinfo=None), last.replace(tzinfo=None))
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO staging_partitions (dataset, partition_hour, objects, rows_read, "
            "rows_staged, rows_rejected, rows_duplicate, rows_coerced, drift) "
            "SELECT d, h, 1, 40 + (extract(hour FROM h))::int, 38, 1, 1, 0, '{}' "
            "FROM generate_series(%s::timestamp, %s::timestamp, interval '1 hour') AS h, "
            "unnest(ARRAY['events', 'songs']) AS d ON CONFLICT DO NOTHING",
            span,
        )
        conn.execute(
            "INSERT INTO staging_rejects (dataset, partition_hour, source_key, line_no, reason) "
            "SELECT 'events', h, 'bench', 1, CASE WHEN extract(hour FROM h) < 12 "
            "THEN 'not_json' ELSE 'missing_field:ts' END "
            "FROM generate_series(%s::timestamp, %s::timestamp, interval '1 hour') AS h",
            span,
        )
        conn.execute(
            "INSERT INTO songplays (songplay_id, partition_hour, start_time, user_id, song_id, "
            "session_id, item_in_session) "
            "SELECT md5(h::text || i), h, h, '1', CASE WHEN i %% 4 = 0 THEN 'S' END, "
            "(extract(epoch FROM h))::int, i "
            "FROM generate_series(%s::timestamp, %s::timestamp, interval '1 hour') AS h, "
            "generate_series(1, 8) AS i ON CONFLICT DO NOTHING",
            span,
        )
        conn.execute(
            "INSERT INTO check_results (check_name, table_name, partition_hour, value, passed) "
            "SELECT 'check_' || c, 'songplays', h, '0', NOT (c = 1 AND "
            "(extract(epoch FROM h))::bigint %% (50 * 3600) = 0) "
            "FROM generate_series(%s::timestamp, %s::timestamp, interval '1 hour') AS h, "
            "generate_series(1, 10) AS c",
            span,
        )


def fill_runs(first: datetime, hours: int) -> int:
    """One finished run per DAG and hour in the metadata database; every 97th failed."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import insert

    rows = []
    for n in range(hours):
        hour = first + timedelta(hours=n)
        key = hour.strftime("%Y-%m-%dT%H:%M:%S")
        for dag_id in GRID_DAGS:
            rows.append(
                {
                    "dag_id": dag_id,
                    "run_id": f"bench_health__{key}",
                    "run_type": "manual",
                    "state": "failed" if n % 97 == 0 and dag_id == "quality" else "success",
                    "partition_key": key,
                    "run_after": hour,
                    "queued_at": hour,
                    "start_date": hour,
                    "end_date": hour + timedelta(minutes=1),
                    "clear_number": 0,
                    "conf": {},
                }
            )
    with create_session() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(DagRun.__table__), rows[start : start + 5000])
    return len(rows)


def settle_airflow(client: Any, *, timeout: float = 120.0) -> float:
    """Pause the DAGs and wait until no task runs: the page is timed, not the scheduled
    runs of the current hour sharing the two cores (a task process is 1-2 s of CPU)."""
    from sparkify.control import PIPELINE_DAGS

    for dag_id in (*PIPELINE_DAGS, "restage_late"):
        client.patch(f"/dags/{dag_id}", json={"is_paused": True}, update_mask="is_paused")
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        busy = client.get(
            "/dags/~/dagRuns/~/taskInstances",
            state=["running", "queued"],  # a paused sensor waits up_for_reschedule: idle
            limit=1,
        )["total_entries"]
        if not busy:
            break
        time.sleep(2)
    time.sleep(5)  # the last task process exits, the scheduler's loop goes idle
    return time.monotonic() - began


def run(live: Any, *, repeats: int = 5, echo: Callable[[str], None] = print) -> dict:
    stack, client = live.stack, live.client
    echo(f"health page: filling {HOURS} hours of warehouse figures and {HOURS * 4} runs ...")
    fill_warehouse(stack.warehouse_dsn(), YEAR_START, HOURS)
    runs = fill_runs(YEAR_START, HOURS)
    quiet_seconds = settle_airflow(client)
    echo(f"pipeline DAGs paused, no task running for {quiet_seconds:.0f}s")
    last = YEAR_START + timedelta(hours=HOURS - 1)
    query = f"from={YEAR_START:%Y-%m-%dT%H}&to={last:%Y-%m-%dT%H}"
    headers = {"Authorization": f"Bearer {client.token()}"}
    timings: dict[str, list[float]] = {"page": [], "data": []}
    sizes: dict[str, int] = {}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=120) as http:
        for path in ("/sparkify/", "/sparkify/data"):  # the first request builds the app
            http.get(f"{path}?{query}").raise_for_status()
        for _ in range(repeats):
            for name, path in (("page", "/sparkify/"), ("data", "/sparkify/data")):
                began = time.perf_counter()
                answer = http.get(f"{path}?{query}")
                timings[name].append(round(time.perf_counter() - began, 3))
                answer.raise_for_status()
                sizes[name] = len(answer.content)
    page = httpx.get(f"{stack.api_url}/sparkify/?{query}", headers=headers, timeout=120).text
    cells = page.count("data-partition=")
    echo(f"page {median(timings['page'])} s ({sizes['page']} bytes, {cells} cells)")
    return {
        "health_page_year_s": median(timings["page"]),
        "health_data_year_s": median(timings["data"]),
        "health_runs": {
            "page_s": timings["page"],
            "data_s": timings["data"],
            "page_bytes": sizes["page"],
            "data_bytes": sizes["data"],
            "partition_elements": cells,  # grid cells and per-hour rows
            "runs_in_metadata": runs,
            "hours": HOURS,
        },
    }
