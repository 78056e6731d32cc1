"""``sparkify demo --live``: events of the current time landed as they would arrive, and
how fresh the star schema is behind them.

1. Brings the stack up (its bucket notifies the SQS queue that ``route_notifications``
   watches), runs ``setup`` and unpauses the DAGs.
2. Generates a pool of events and song files (``sparkify generate``, one day) and, for
   ``--minutes``, lands an object every ``--interval`` seconds into the current hour's
   prefix (``<events_prefix>/YYYY/MM/DD/HH/live-NNNN.json``): the next few events of the pool,
   their ``ts`` set to the moment they are sent; and, now and then, a new song file. No
   command starts anything: the bucket's notifications do, through the chain.
3. Shows the rows of ``staging_events`` as they arrive, then waits for the chain to check
   every object.
4. The summary (printed, and ``--json``): ``events_sent`` (unique events landed),
   ``freshness_s`` (per object, from the end of its upload to the end of the first
   successful ``quality`` run that covered it: the first ``stage_events`` run of its hour
   started after the upload, the first ``model`` run started after that one ended, the
   first ``quality`` run started after that one ended), the warehouse's ``tables``, and the
   ``runs`` and ``checks`` of the hours landed into, every one of them counted.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkify.control.dags import FINISHED, PIPELINE_DAGS
from sparkify.pipeline import partitions

if TYPE_CHECKING:
    from sparkify.control.api import ApiClient
    from sparkify.local.stack.stack import Stack


DAGS = PIPELINE_DAGS
ENTRY_DAGS = ("route_notifications", "restage_late")
SETUP_DAG = "setup"
EVENTS_PER_OBJECT = 6
SONG_EVERY = 4  # a new song file with every fourth object
POOL_EVENTS_PER_HOUR = 400.0  # the generated pool: enough lines for an hour of objects
WAIT_AFTER_S = 300.0  # after the last object, how long the chain may take to check it all


@dataclass
class LiveOptions:
    minutes: float = 3.0
    interval: float = 20.0
    seed: int = 4242
    down: bool = False
    json_path: Path | None = None
    timeout: float = WAIT_AFTER_S


@dataclass
class Landed:
    """One object landed: its key, its hour's partition key, when its upload ended."""

    key: str
    partition_key: str
    uploaded: datetime
    events: int
    song: bool = False


@dataclass
class LiveResult:
    summary: dict[str, Any]
    landed: list[Landed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def event_pool(workdir: Path, seed: int) -> tuple[list[dict[str, Any]], list[Path], Path]:
    """A day of generated events (as dicts, in time order) and its song files."""
    from sparkify.local.generate.dataset import generate

    today = datetime.now(UTC).date()
    generate(workdir, start=today, days=1, events_per_hour=POOL_EVENTS_PER_HOUR, seed=seed)
    (day_file,) = (workdir / "log_data").rglob("*.json")
    events = [json.loads(line) for line in day_file.read_text().splitlines() if line.strip()]
    songs = sorted((workdir / "song_data").rglob("*.json"))
    return events, songs, workdir


def live_lines(events: Sequence[dict[str, Any]], now: datetime) -> bytes:
    """``events`` as JSON lines, each ``ts`` set to ``now`` (a millisecond apart)."""
    base = int(now.timestamp() * 1000)
    lines = []
    for i, event in enumerate(events):
        lines.append(json.dumps({**event, "ts": base + i}, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def run_live(
    options: LiveOptions,
    *,
    stack: Stack | None = None,
    echo: Callable[[str], None] = lambda _msg: None,
) -> LiveResult:
    from sparkify.control import trigger_and_wait, unpause, wait_for_dags
    from sparkify.local.demo import settle
    from sparkify.local.stack.stack import Stack

    stack = stack or Stack()
    try:
        stack.up(echo=echo)
        with stack.api_client() as client, tempfile.TemporaryDirectory() as tmp:
            wait_for_dags(client, (SETUP_DAG, *DAGS, *ENTRY_DAGS))
            unpause(client, (SETUP_DAG,))
            if trigger_and_wait(client, SETUP_DAG)["state"] != "success":
                raise RuntimeError("setup failed; see its task log")
            unpause(client, (*DAGS, *ENTRY_DAGS))
            events, songs, root = event_pool(Path(tmp), options.seed)
            # A fresh stack first runs the live clock for the hour just ended, and that
            # hour's chain: timing starts once it is through, so the figures are the event
            # path's, not the stack's first minute.
            settle(client, DAGS, timeout=180.0, echo=echo)
            landed = land_live(stack, events, songs, root, options, echo)
            wait_until_checked(client, landed, options.timeout, echo)
            summary = live_summary(stack, client, landed)
        problems = live_problems(summary, landed)
        if options.json_path is not None:
            options.json_path.parent.mkdir(parents=True, exist_ok=True)
            options.json_path.write_text(json.dumps(summary, indent=2) + "\n")
        return LiveResult(summary=summary, landed=landed, problems=problems)
    finally:
        if options.down:
            stack.down(echo=echo)


def land_live(
    stack: Stack,
    events: Sequence[dict[str, Any]],
    songs: Sequence[Path],
    root: Path,
    options: LiveOptions,
    echo: Callable[[str], None],
) -> list[Landed]:
    """An object every ``interval`` seconds for ``minutes``; the staged rows shown meanwhile."""
    from sparkify.local.land import song_key

    s3 = stack.s3_client()
    configured = stack.pipeline_settings()  # where the stack's staging reads
    landed: list[Landed] = []
    stop = time.monotonic() + options.minutes * 60
    seq = 0
    shown = -1
    next_at = time.monotonic()
    while time.monotonic() < stop and (seq + 1) * EVENTS_PER_OBJECT <= len(events):
        if time.monotonic() >= next_at:
            seq += 1
            batch = events[(seq - 1) * EVENTS_PER_OBJECT : seq * EVENTS_PER_OBJECT]
            now = datetime.now(UTC)
            key = f"{partitions.events_prefix(configured.events_prefix, now)}live-{seq:04d}.json"
            s3.put_object(Bucket=stack.bucket, Key=key, Body=live_lines(batch, now))
            hour = now.replace(minute=0, second=0, microsecond=0)
            landed.append(Landed(key, partitions.format_key(hour), datetime.now(UTC), len(batch)))
            if seq % SONG_EVERY == 1 and seq // SONG_EVERY < len(songs):
                path = songs[seq // SONG_EVERY]
                key_of_song = song_key(configured.songs_prefix, root, path)
                s3.put_object(Bucket=stack.bucket, Key=key_of_song, Body=path.read_bytes())
                landed[-1].song = True
            echo(f"{now:%H:%M:%S} landed {key} ({len(batch)} events)")
            next_at += options.interval
        staged = staged_events(stack)
        if staged != shown:
            echo(f"{datetime.now(UTC):%H:%M:%S} staging_events holds {staged} rows")
            shown = staged
        time.sleep(1)
    return landed


def staged_events(stack: Stack) -> int:
    import psycopg

    with psycopg.connect(stack.warehouse_dsn()) as conn:
        if not conn.execute("SELECT to_regclass('staging_events')").fetchone()[0]:
            return 0
        return int(conn.execute("SELECT COUNT(*) FROM staging_events").fetchone()[0])


def _time(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value.replace("Z", "+00:00"))


def covering_quality_end(
    runs: dict[str, list[dict[str, Any]]],
    partition_key: str,
    uploaded: datetime,
    task_end: Callable[[str, dict[str, Any]], datetime | None],
) -> datetime | None:
    """When the first successful ``quality`` run that covered an object uploaded at
    ``uploaded`` into ``partition_key`` ended, or None (not yet).

    Covered: the first ``stage_events`` run of the hour that started after the upload (its
    listing found the object); the first ``model`` run queued after that run's task ended
    (so its transaction saw the staged rows); the first successful ``quality`` run queued
    after that model's task ended. Task ends, not run ends: a run is marked finished a
    moment after its task, by when the run its Asset event started may be running.
    ``runs``: DAG id -> its runs (the REST API's records); ``task_end(dag_id, run)``: when
    the run's last task ended."""

    def first(dag_id: str, after: datetime, field: str, *, success: bool = False) -> dict | None:
        found = [
            r
            for r in runs.get(dag_id, [])
            if r.get("partition_key") == partition_key
            and (moment := _time(r.get(field))) is not None
            and moment >= after
            and r.get("end_date")
            and (not success or r["state"] == "success")
        ]
        return min(found, key=lambda r: _time(r[field])) if found else None

    stage = first("stage_events", uploaded, "start_date")
    staged = None if stage is None else task_end("stage_events", stage)
    model = None if staged is None else first("model", staged, "queued_at")
    modeled = None if model is None else task_end("model", model)
    quality = None if modeled is None else first("quality", modeled, "queued_at", success=True)
    return None if quality is None else _time(quality["end_date"])


class TaskEnds:
    """When each run's last task ended, asked of the REST API once per run."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.known: dict[tuple[str, str], datetime | None] = {}

    def __call__(self, dag_id: str, run: dict[str, Any]) -> datetime | None:
        key = (dag_id, run["dag_run_id"])
        if key not in self.known:
            path = f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances"
            ends = [_time(ti.get("end_date")) for ti in self.client.get(path)["task_instances"]]
            done = [end for end in ends if end is not None]
            self.known[key] = max(done) if done and len(done) == len(ends) else None
        return self.known[key]


def fetch_live_runs(client: ApiClient, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    from sparkify.control import fetch_runs

    return {dag_id: fetch_runs(client, dag_id, keys) for dag_id in DAGS}


def wait_until_checked(
    client: ApiClient, landed: Sequence[Landed], timeout: float, echo: Callable[[str], None]
) -> None:
    keys = sorted({obj.partition_key for obj in landed})
    deadline = time.monotonic() + timeout
    task_end = TaskEnds(client)
    while True:
        runs = fetch_live_runs(client, keys)
        waiting = [
            obj
            for obj in landed
            if covering_quality_end(runs, obj.partition_key, obj.uploaded, task_end) is None
        ]
        active = [r for rs in runs.values() for r in rs if r["state"] in ("queued", "running")]
        if not waiting and not active:
            return
        if time.monotonic() > deadline:
            echo(f"{len(waiting)} object(s) still not checked after {timeout:.0f}s")
            return
        time.sleep(2)


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` percentile of ``values``, interpolated (as numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def freshness(
    runs: dict[str, list[dict[str, Any]]],
    landed: Sequence[Landed],
    task_end: Callable[[str, dict[str, Any]], datetime | None],
) -> dict[str, Any]:
    seconds = []
    for obj in landed:
        end = covering_quality_end(runs, obj.partition_key, obj.uploaded, task_end)
        if end is not None:
            seconds.append((end - obj.uploaded).total_seconds())
    if not seconds:
        return {"p50": None, "p95": None, "max": None, "objects": 0}
    return {
        "p50": round(statistics.median(seconds), 1),
        "p95": round(percentile(seconds, 0.95), 1),
        "max": round(max(seconds), 1),
        "objects": len(seconds),
    }


def live_summary(stack: Stack, client: ApiClient, landed: Sequence[Landed]) -> dict[str, Any]:
    from sparkify.local.summary import warehouse_summary

    keys = sorted({obj.partition_key for obj in landed})
    runs = fetch_live_runs(client, keys)
    first = partitions.parse_key(keys[0])
    last = partitions.parse_key(keys[-1])
    counts = warehouse_summary(stack.warehouse_dsn(), first, last)
    states = {
        dag_id: {state: sum(1 for r in rs if r["state"] == state) for state in FINISHED}
        for dag_id, rs in runs.items()
    }
    return {
        "events_sent": sum(obj.events for obj in landed),
        "objects_sent": len(landed),
        "song_files_sent": sum(1 for obj in landed if obj.song),
        "freshness_s": freshness(runs, landed, TaskEnds(client)),
        "tables": counts["tables"],
        "partitions": keys,
        "runs": states,
        "checks": all_checks(stack.warehouse_dsn(), first, last + timedelta(hours=1)),
    }


def all_checks(dsn: str, first: datetime, end: datetime) -> dict[str, int]:
    """Every check outcome recorded for the hours ``first`` .. ``end`` (not only the
    latest of each: a live hour is checked again with every object)."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT passed, COUNT(*) FROM check_results "
            "WHERE partition_hour >= %s AND partition_hour < %s GROUP BY passed",
            (partitions.naive_utc(first), partitions.naive_utc(end)),
        ).fetchall()
    counts = {bool(passed): int(n) for passed, n in rows}
    return {"passed": counts.get(True, 0), "failed": counts.get(False, 0)}


def live_problems(summary: dict[str, Any], landed: Sequence[Landed]) -> list[str]:
    problems = []
    if summary["tables"]["staging_events"] != summary["events_sent"]:
        problems.append(
            f"staging_events holds {summary['tables']['staging_events']} rows, "
            f"{summary['events_sent']} events were sent"
        )
    if summary["freshness_s"]["objects"] != len(landed):
        missing = len(landed) - summary["freshness_s"]["objects"]
        problems.append(f"{missing} object(s) never reached a successful quality run")
    for dag_id, counts in summary["runs"].items():
        if counts["failed"]:
            problems.append(f"{dag_id}: {counts['failed']} run(s) failed")
    if summary["checks"]["failed"]:
        problems.append(f"{summary['checks']['failed']} check(s) failed")
    return problems


def render_live(result: LiveResult, console: Any) -> None:
    """The live summary as rich tables."""
    from rich.table import Table

    summary = result.summary
    sent = Table(title="Sent", title_justify="left")
    for name in ("events", "objects", "song files"):
        sent.add_column(name, justify="right")
    sent.add_row(
        str(summary["events_sent"]),
        str(summary["objects_sent"]),
        str(summary["song_files_sent"]),
    )
    fresh = Table(title="Freshness, upload to checked (s)", title_justify="left")
    for name in ("p50", "p95", "max", "objects"):
        fresh.add_column(name, justify="right")
    fresh.add_row(*(str(summary["freshness_s"][name]) for name in ("p50", "p95", "max", "objects")))
    tables = Table(title="Warehouse", title_justify="left")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for name, count in summary["tables"].items():
        tables.add_row(name, f"{count:,}")
    runs = Table(title=f"Runs of {', '.join(summary['partitions'])}", title_justify="left")
    for name in ("DAG", "success", "failed"):
        runs.add_column(name, justify="left" if name == "DAG" else "right")
    for dag_id, counts in summary["runs"].items():
        runs.add_row(dag_id, str(counts["success"]), str(counts["failed"]))
    checks = Table(title="Checks (every outcome)", title_justify="left")
    checks.add_column("passed", justify="right")
    checks.add_column("failed", justify="right")
    checks.add_row(str(summary["checks"]["passed"]), str(summary["checks"]["failed"]))
    for table in (sent, fresh, tables, runs, checks):
        console.print(table)
