"""``sparkify demo``: the whole pipeline on the local stack, from nothing to a checked schema.

1. Brings the stack up (idempotent: a running, healthy stack is left as it is).
2. Generates a small synthetic data set into ``<state>/demo-data/`` (three days of about
   12 events an hour, 72 hourly partitions; reused when it is already there with the same
   options), unless ``--source DIR`` names a data set in the original export layout.
3. Unpauses the DAGs if needed, runs ``setup`` and waits for it and for the live clock's
   run of the hour just ended (``settle``), then lands the data (``sparkify land``: events
   split into hourly prefixes, the bucket's notifications suspended meanwhile).
4. Backfills ``stage_events`` and ``stage_songs`` over the range (default: the days of the
   log files), one run per window of ``--grain`` (default: the whole range), and waits, with a
   progress bar per DAG, until every window of the range has finished in ``model`` and
   ``quality`` too, which follow by their assets with the same keys.
5. Collects a summary from the warehouse and the REST API (``sparkify.local.summary``),
   which ``sparkify.cli.demo`` prints (``--json PATH`` writes it); ``sparkify demo`` exits
   1 if any run or check failed. The stack keeps running (``--down`` stops it).

``--executor celery --workers N`` brings the stack up with the CeleryExecutor and N
workers; the summary says which executor ran the range (``"executor"``) and how many of
the range's task instances each worker hostname ran (``"workers"``, from the task
instances' ``hostname`` in the REST API).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkify.control import (
    DEFAULT_GRAIN,
    PIPELINE_DAGS,
    STAGING_DAGS,
    BackfillError,
    PartitionWaitError,
    backfill,
    dag_info,
    hour_range,
    trigger_and_wait,
    unpause,
    wait_for_dags,
    wait_for_partitions,
    windows_of,
)
from sparkify.local.stack import process as proc
from sparkify.local.stack.config import COMPONENTS, EXECUTORS
from sparkify.local.summary import collect_summary, summary_problems, task_instances_per_host

if TYPE_CHECKING:
    from sparkify.control.api import ApiClient
    from sparkify.local.stack.stack import Stack

DEMO_DATA = "demo-data"
DEMO_START = date(2018, 11, 1)  # the first day of the public data set
SETUP_DAG = "setup"
LATE_DAG = "restage_late"  # unpaused too, as in production; idle on historical data
# The only DAG that takes whatever song files are new, whichever hour it runs for.
SONG_TAKERS = ("stage_songs",)
CLOCK_DAG = "detect_landing"  # the hourly clock, whose live run can take landed songs
# What starts a chain by itself: the clock and the bucket notifications' router.
ENTRY_DAGS = (CLOCK_DAG, "route_notifications")
STORAGE = ("postgres", "s3")  # what landing needs
AIRFLOW = ("airflow",)  # and its metadata database (stack.config.expand_components)
_BUSY_TI_STATES = (None, "scheduled", "queued", "running", "restarting")


@dataclass
class DemoOptions:
    """What ``sparkify demo`` does; the defaults finish in a few minutes."""

    source: Path | None = None
    first: date | datetime | None = None
    last: date | datetime | None = None
    days: int = 3
    events_per_hour: float = 12.0
    seed: int = 42
    start: date = DEMO_START
    down: bool = False
    timeout: float = 3600.0
    progress: bool = True
    # postgres or redshift (the Redshift rehearsal); None: what the stack has, else postgres.
    warehouse: str | None = None
    grain: str = DEFAULT_GRAIN  # hour | day | range: one run per window (control.submit)
    executor: str | None = None  # local | celery; None: the running stack's, else local
    workers: int | None = None  # Celery workers (default 2)


@dataclass
class DemoResult:
    """The summary (the ``--json`` document), how long each step took, and what failed."""

    summary: dict[str, Any]
    keys: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    report_path: Path | None = None  # the partition health report of the range

    @property
    def ok(self) -> bool:
        return not self.problems


def run_demo(
    options: DemoOptions,
    *,
    stack: Stack | None = None,
    echo: Callable[[str], None] = lambda _msg: None,
    console: Any = None,
) -> DemoResult:
    """Run the demo on ``stack`` (default: the stack of ``$SPARKIFY_HOME``/``.sparkify``)."""
    from sparkify.local.stack.stack import Stack

    stack = stack or Stack()
    started = time.monotonic()
    timings: dict[str, float] = {}

    def step(name: str, since: float) -> float:
        now = time.monotonic()
        timings[name] = round(now - since, 1)
        echo(f"{name}: {timings[name]:.1f}s")
        return now

    landing: Future[dict[str, Any]] | None = None
    stop_landing = threading.Event()
    fresh = False
    try:
        mark = time.monotonic()
        source = options.source or prepare_data(stack.state_dir / DEMO_DATA, options, echo)
        first, last = options.first, options.last
        if first is None or last is None:
            span = data_span(source)
            first, last = first or span[0], last or span[1]
        try:
            hours = hour_range(first, last)
        except ValueError as exc:
            raise BackfillError(str(exc)) from exc
        if not hours:
            raise BackfillError("no hour of the range is over yet: nothing to run")
        keys = [window.key for window in windows_of(hours, options.grain)]
        mark = step("data", mark)

        # A new stack: no DAG exists yet, so Airflow creates them paused and the data lands
        # while Airflow starts. The live entry points (the clock, the notifications) stay
        # paused until the range has finished, so nothing but the backfill can stage it.
        fresh = stack.airflow_is_new()
        up = {"executor": options.executor, "workers": options.workers, "echo": echo}
        if fresh:
            stack.up(STORAGE, warehouse=options.warehouse, **up)
            mark = step("storage up", mark)
            landing = _land_beside(stack, source, hours[0].date(), hours[-1].date(), stop_landing)
        # Beside a landing, not the bucket again: its notifications are suspended meanwhile.
        stack.up(AIRFLOW if fresh else COMPONENTS, warehouse=options.warehouse,
                 paused_at_creation=fresh, **up)  # fmt: skip
        mark = step("airflow up" if fresh else "stack up", mark)

        with stack.api_client() as client:
            run_setup(client, echo)
            mark = step("setup", mark)
            if landing is None:
                settle(client, SONG_TAKERS, echo=echo)
                report = land_data(stack, source, hours[0].date(), hours[-1].date())
            else:
                report = landing.result()
            echo(
                f"landed {report['lines']} event lines and {report['song_files']} song files "
                f"({report['uploaded']} objects uploaded, {report['unchanged']} unchanged) in "
                f"{report['seconds']:.1f}s" + (", beside Airflow's start" if fresh else "")
            )
            mark = step("land", mark)

            submissions = backfill(client, STAGING_DAGS, hours[0], hours[-1], grain=options.grain)
            echo(
                f"backfilling {len(hours)} hours in {len(keys)} window(s) by {options.grain}, "
                f"{keys[0]} .. {keys[-1]}: " + ", ".join(s.dag_id for s in submissions)
            )
            since = min(s.since for s in submissions)
            problems = []
            try:
                latest = wait_for_partitions(
                    client,
                    PIPELINE_DAGS,
                    keys,
                    timeout=options.timeout,
                    progress=options.progress,
                    since=since,
                    console=console,
                )
            except PartitionWaitError as exc:
                problems.append(str(exc))
                latest = exc.latest
            step("pipeline", mark)
            per_host = task_instances_per_host(client, latest)

        timings["total"] = round(time.monotonic() - started, 1)
        summary = collect_summary(stack, hours, latest, seconds=timings["total"], keys=keys)
        summary["warehouse"] = stack.config.get("warehouse", "postgres")
        summary["steps_s"] = dict(timings)
        summary |= {"executor": EXECUTORS[stack.executor], "workers": per_host}
        problems += summary_problems(summary, len(keys))
        report_path = write_health_report(stack, hours[0], hours[-1], problems)
        return DemoResult(
            summary=summary, keys=keys, timings=timings, problems=problems, report_path=report_path
        )
    finally:
        if landing is not None:
            stop_landing.set()
            wait([landing])  # a landing that failed has said so through result() above
        if fresh:
            unpause_entry_points(stack, echo)
        if options.down:
            stack.down(echo=echo)


def run_setup(client: ApiClient, echo: Callable[[str], None]) -> None:
    """Run ``setup`` and unpause the DAGs the demo runs.

    ``setup`` first: a staging DAG unpaused earlier starts its scheduled run at once, fails
    on missing tables and retries minutes later, in the middle of the demo.
    """
    wait_for_dags(client, (SETUP_DAG, LATE_DAG, *PIPELINE_DAGS))
    unpause(client, (SETUP_DAG,))
    run = trigger_and_wait(client, SETUP_DAG)
    if run["state"] != "success":
        raise BackfillError(f"setup failed (run {run['dag_run_id']}); see its task log")
    for dag_id in unpause(client, (LATE_DAG, *PIPELINE_DAGS)):
        echo(f"unpaused {dag_id}")


def unpause_entry_points(stack: Stack, echo: Callable[[str], None]) -> None:
    """Unpause the live entry points a new stack created paused, once the range is done:
    the stack is then as ``sparkify stack up`` leaves it. A stack that did not come up has
    nothing to unpause."""
    try:
        with stack.api_client() as client:
            for dag_id in unpause(client, ENTRY_DAGS):
                echo(f"unpaused {dag_id}")
    except Exception as exc:  # the demo's own outcome matters more than this
        echo(f"the entry points could not be unpaused ({exc}); `sparkify stack up` does not")


def _land_beside(
    stack: Stack, source: Path, first: date, last: date, stop: threading.Event
) -> Future[dict[str, Any]]:
    """``land_data`` in a thread of its own, while the caller starts Airflow."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sparkify-land")
    try:
        return pool.submit(land_data, stack, source, first, last, stop=stop)
    finally:
        pool.shutdown(wait=False)


def write_health_report(
    stack: Stack, first: datetime, last: datetime, problems: list[str]
) -> Path | None:
    """``<state>/report.html``: the partition health of the demo's range (``sparkify
    report``); a report that cannot be written is a problem of the demo, not a crash."""
    from sparkify.health.report import DsnRecords, write_report

    out = stack.state_dir / "report.html"
    try:
        os.close(proc.open_private(out, os.O_WRONLY))  # 0600: write_report keeps the mode
        with stack.api_client() as client:
            return write_report(
                out, client=client, first=first, last=last,
                db_hook=DsnRecords(stack.warehouse_dsn(reader=True)),
            )  # fmt: skip
    except Exception as exc:
        problems.append(f"the health report could not be written: {exc}")
        return None


# -- data -----------------------------------------------------------------------------------
def prepare_data(out: Path, options: DemoOptions, echo: Callable[[str], None]) -> Path:
    """A synthetic data set in ``out``: reused when it was made with the same options."""
    from sparkify.local.generate.dataset import MANIFEST, generate

    wanted = {
        "start": options.start.isoformat(),
        "days": options.days,
        "events_per_hour": options.events_per_hour,
        "seed": options.seed,
    }
    try:
        made = json.loads((out / MANIFEST).read_text())["options"]
    except (OSError, ValueError, KeyError):
        made = None
    if made is not None and made.get("dirty", 0) == 0 and made.items() >= wanted.items():
        echo(f"reusing the data set in {out}")
        return out
    proc.private_dir(out)  # in the stack's state: its user's alone, as the rest of it
    manifest = generate(
        out,
        start=options.start,
        days=options.days,
        events_per_hour=options.events_per_hour,
        seed=options.seed,
        overwrite=True,
    )
    totals = manifest["totals"]
    echo(
        f"generated {totals['events']} events ({totals['plays']} plays) over "
        f"{options.days} day(s) and {totals['song_files']} song files in {out}"
    )
    return out


def data_span(source: Path) -> tuple[date, date]:
    """The first and last day of the log files in ``source`` (original export layout)."""
    from sparkify.local.land import log_files

    if not Path(source).is_dir():
        raise BackfillError(f"{source} is not a directory")
    files, _unnamed = log_files(Path(source), None, None)
    days = sorted(day for _path, day in files)
    if not days:
        raise BackfillError(f"no log files (log_data/**/YYYY-MM-DD-events.json) in {source}")
    return days[0], days[-1]


def land_data(
    stack: Stack, source: Path, first: date, last: date, *, stop: threading.Event | None = None
) -> dict[str, Any]:
    """``sparkify land`` of the range's log files and every song file, into the stack's bucket
    (``stop``: see ``land``).

    With the bucket's notifications suspended meanwhile: the demo backfills the range in
    windows, and a notification per landed object would also start a chain per hour of
    it (the tables would end the same, after many times the work).
    """
    from botocore.config import Config

    from sparkify.local.land import land
    from sparkify.local.stack import notifications

    # Every PUT carries Content-MD5, which the endpoint checks; no CRC32 besides it, to
    # compute here and to store and check there (a fifth of a small PUT's cost).
    s3 = stack.s3_client(Config(request_checksum_calculation="when_required"))
    configured = stack.pipeline_settings()  # where the stack's staging reads
    with notifications.suspended(stack.s3_url, stack.bucket):
        return land(
            source,
            bucket=stack.bucket,
            s3_client=s3,
            date_from=first,
            date_to=last,
            stop=stop,
            events_prefix=configured.events_prefix,
            songs_prefix=configured.songs_prefix,
        )


def settle(
    client: ApiClient,
    dag_ids: Sequence[str] = SONG_TAKERS,
    *,
    timeout: float = 120.0,
    echo: Callable[[str], None] = lambda _msg: None,
) -> None:
    """Wait until the live clock's due run (``detect_landing``) has finished, and so have
    the runs of ``dag_ids`` it started for its hour.

    ``stage_songs`` loads every song file it has not seen, whatever hour it runs for. On a
    fresh stack the scheduler starts ``detect_landing`` for the hour that just ended as
    soon as the DAG is parsed; its grace period long over, it emits ``landed`` at once, and
    had the songs landed by then, that hour's ``stage_songs`` would stage them under
    today's hour. Landing after it keeps the demo's songs in the backfilled range, loaded
    by the backfill's own run. (At each full hour a new live run starts; between landing
    and the backfill's first run that window is a few seconds.)
    """
    deadline = time.monotonic() + timeout

    def waiting(what: str) -> bool:
        if time.monotonic() > deadline:
            echo(f"{what} still busy after {timeout:.0f}s; going on")
            return False
        time.sleep(1)
        return True

    while not _settled(client, CLOCK_DAG):
        if not waiting(CLOCK_DAG):
            return
    key = _latest_emitted_key(client)
    if key is None:
        return
    for dag_id in dag_ids:
        while not _finished_for(client, dag_id, key):
            if not waiting(f"{dag_id} for {key}"):
                return


def _settled(client: ApiClient, dag_id: str) -> bool:
    info = dag_info(client, dag_id)
    if info["is_paused"]:
        return True
    upcoming = info.get("next_dagrun_run_after")
    if upcoming and datetime.fromisoformat(upcoming.replace("Z", "+00:00")) <= datetime.now(UTC):
        return False  # the scheduler has yet to create the run that is due
    runs = client.get(
        f"/dags/{dag_id}/dagRuns", run_type="scheduled", state=["queued", "running"], limit=100
    )["dag_runs"]
    for run in runs:
        if run["state"] == "queued":
            return False
        tis = client.get(f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")
        if any(ti["state"] in _BUSY_TI_STATES for ti in tis["task_instances"]):
            return False
    return True


def _latest_emitted_key(client: ApiClient) -> str | None:
    """The key of the clock's latest run, if it succeeded (and so emitted ``landed``)."""
    runs = client.get(f"/dags/{CLOCK_DAG}/dagRuns", order_by="-id", limit=1)["dag_runs"]
    if not runs or runs[0]["state"] != "success":
        return None
    return runs[0].get("partition_key")


def _finished_for(client: ApiClient, dag_id: str, key: str) -> bool:
    """Whether ``dag_id`` has a finished run for partition ``key`` and none still active."""
    runs = client.get(f"/dags/{dag_id}/dagRuns", order_by="-id", limit=50)["dag_runs"]
    mine = [run for run in runs if run.get("partition_key") == key]
    return bool(mine) and all(run["state"] in ("success", "failed") for run in mine)
