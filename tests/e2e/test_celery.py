"""End to end on the CeleryExecutor with two workers, and the orchestration's faults survived.

One stack of this module's own (a fresh state directory, as ``test_local_stack.py`` does),
brought up as ``sparkify stack up --executor celery --workers 2`` would: PostgreSQL, the
S3 endpoint, Airflow's four processes, Redis and two Celery workers. Every test shares it.
A generated day is landed once; each test empties the warehouse and backfills the same
few hours through the whole chain (stage_events, stage_songs, model, quality).

The first run is undisturbed: its counts are checked against the input and its tables
are the reference. Each fault test then disturbs a run and must end with tables equal to
the reference. ``stage_songs`` waits on an advisory lock (every run of it serialises on
``songs``); a test that holds that lock holds the running ``stage_songs`` task in flight,
so that a kill is known to land while the work is under way, whatever the machine's speed.

The stack's processes get a task heartbeat timeout of 30 s (Airflow's default is 300 s)
and a retry delay of 5 s (``SPARKIFY_RETRY_DELAY_SECONDS``; the DAGs' default is 5 min),
so that a task lost with its worker is failed and retried within the test.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
import psycopg
import pytest

from sparkify.control import (
    PIPELINE_DAGS,
    backfill,
    trigger_and_wait,
    unpause,
    wait_for_dags,
    wait_for_partitions,
)
from sparkify.local.demo import land_data, settle
from sparkify.local.generate.dataset import generate
from sparkify.local.stack import process as stack_process
from sparkify.local.stack import workers as celery_parts
from sparkify.local.stack.postgres import PostgresError, find_bindir
from sparkify.local.stack.stack import Stack, StackError
from sparkify.local.summary import task_instances_per_host
from tests.e2e.chain import empty_warehouse, mark_failed
from tests.e2e.test_end_to_end import (
    expected_counts,
    fingerprints,
    hour_of,
    read_events,
    read_songs,
    table_counts,
)

pytestmark = pytest.mark.e2e

DAY = date(2018, 11, 23)  # a day no other test lands
WINDOW_HOURS = 3
EVENTS_PER_HOUR = 30.0
SEED = 23
WORKERS = 2
UP_TIMEOUT_S = 300
CHAIN_TIMEOUT_S = 600
SUPERVISE_S = 30  # after the database restart: long enough for a process to fail and exit
FAULT_ENV = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    # A restarted scheduler adopts the dead one's running tasks at this interval.
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "15",
    # A task whose message a killed worker had taken but not started stays queued until
    # this timeout (600 s by default); then the scheduler queues it again.
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
    "SPARKIFY_RETRY_DELAY_SECONDS": "5",
}
SONGS_LOCK = "songs"  # sparkify.pipeline.staging.postgres: pg_advisory_xact_lock(hashtext('songs'))


# -- fixtures ------------------------------------------------------------------------------------
def _require(check, what: str) -> None:
    try:
        check()
    except (PostgresError, StackError) as exc:
        if os.environ.get("CI"):
            raise  # CI installs both; missing there is a failure, not a skip
        pytest.skip(f"{what}: {exc}")


@pytest.fixture(scope="module")
def celery_stack() -> Iterator[Stack]:
    _require(find_bindir, "PostgreSQL")
    _require(celery_parts.find_redis_server, "redis-server")
    # Not pytest's tmp_path: that is under a 0700 directory the postgres user cannot enter.
    state = Path(tempfile.mkdtemp(prefix="sparkify-celery-test-"))
    state.chmod(0o755)
    stack = Stack(state, environ=FAULT_ENV)
    try:
        started = time.monotonic()
        stack.up(executor="celery", workers=WORKERS, timeout=UP_TIMEOUT_S)
        print(f"celery stack up in {time.monotonic() - started:.1f}s")
        yield stack
    finally:
        try:
            stack.down()
        finally:
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("celery-data")
    generate(out, start=DAY, days=1, events_per_hour=EVENTS_PER_HOUR, seed=SEED)
    return out


@pytest.fixture(scope="module")
def window(source) -> list[datetime]:
    """The first hours of the day with plays in each and a play matched to a song."""
    events, songs = read_events(source), read_songs(source)
    triples = {(s["title"], s["artist_name"], s["duration"]) for s in songs}
    plays = Counter(hour_of(e["ts"]) for e in events if e["page"] == "NextSong")
    matched = {
        hour_of(e["ts"])
        for e in events
        if e["page"] == "NextSong" and (e["song"], e["artist"], e["length"]) in triples
    }
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    for first in range(24 - WINDOW_HOURS + 1):
        hours = [start + timedelta(hours=first + n) for n in range(WINDOW_HOURS)]
        if all(plays[h] for h in hours) and matched & set(hours):
            return hours
    raise AssertionError("the generated day has no window with plays in every hour")


@pytest.fixture(scope="module")
def celery_live(celery_stack: Stack, source: Path):
    """The celery stack with the warehouse set up, the DAGs on, the day landed."""
    stack = celery_stack
    with stack.api_client() as client:
        wait_for_dags(client, ("setup", *PIPELINE_DAGS))
        unpause(client, ("setup",))
        assert trigger_and_wait(client, "setup")["state"] == "success"
        unpause(client, PIPELINE_DAGS)
        # These tests are about backfills: the live clock is stopped. detect_landing, on
        # from the start, would stage the hour just ended, and its stage_songs run take the
        # songs landed below under today's hour, in one test and not the next.
        client.patch("/dags/detect_landing", json={"is_paused": True}, update_mask="is_paused")
        wait_live_runs_finished(client)
        settle(client)
        land_data(stack, source, DAY, DAY)
        yield stack, client


@pytest.fixture(scope="module")
def reference(celery_live, window):
    """The undisturbed run: the latest run of each DAG per key, and the tables' digests."""
    stack, client = celery_live
    latest = run_chain(client, window)
    return latest, fingerprints(stack.warehouse_dsn(), window)


# -- helpers -------------------------------------------------------------------------------------
def run_chain(client, hours: list[datetime], submissions=None) -> dict[str, dict[str, dict]]:
    """Backfill the staging DAGs over ``hours`` (unless ``submissions`` says it is done) and
    wait for the whole chain; every partition's latest run of every DAG must succeed.
    Retries are waited for: a fault's task is meant to be retried."""
    submissions = submissions or backfill(client, "all", hours[0], hours[-1], grain="hour")
    latest = wait_for_partitions(
        client,
        PIPELINE_DAGS,
        list(submissions[0].keys),
        since=min(s.since for s in submissions),
        timeout=CHAIN_TIMEOUT_S,
    )
    for dag_id in PIPELINE_DAGS:
        states = {key: run["state"] for key, run in latest.get(dag_id, {}).items()}
        assert states == dict.fromkeys(submissions[0].keys, "success"), dag_id
    return latest


def wait_live_runs_finished(client, timeout: float = 180) -> None:
    """Until no run of ``detect_landing`` (the hourly clock, now paused) or of the staging
    DAGs it starts is queued or running: none may take the songs landed next. A live run
    still in its sensor (it waits out the hour's grace) is marked failed: it emits nothing."""
    for run in client.get("/dags/detect_landing/dagRuns", state=["queued", "running"])["dag_runs"]:
        mark_failed(client, "detect_landing", run["dag_run_id"])
    deadline = time.monotonic() + timeout
    for dag_id in ("detect_landing", "stage_songs", "stage_events"):
        while client.get(f"/dags/{dag_id}/dagRuns", state=["queued", "running"])["total_entries"]:
            assert time.monotonic() < deadline, f"{dag_id}: a run is still busy"
            time.sleep(1)


@contextlib.contextmanager
def songs_held(dsn: str) -> Iterator[psycopg.Connection]:
    """Hold the lock every ``stage_songs`` load takes first: its task waits, in flight."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (SONGS_LOCK,))
        try:
            yield conn
        finally:
            # A restarted server has ended this session, and the lock with it.
            with contextlib.suppress(psycopg.OperationalError):
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (SONGS_LOCK,))


def reset(client, dsn: str) -> None:
    """An empty warehouse for the next run. The current hour's scheduled runs first: one
    started after the truncation would stage the songs under today's hour."""
    settle(client)
    empty_warehouse(dsn)


def start_held_backfill(client, conn: psycopg.Connection, hours: list[datetime]):
    """Backfill ``hours`` with the songs lock held: once every ``stage_events`` partition has
    finished, the first ``stage_songs`` task is running and waits, and nothing of ``model``
    or ``quality`` has started. Returns the submissions and that task instance.

    The events go first so that the partitions still reach ``model`` in order after the
    fault, as in the undisturbed run: ``model`` for an hour puts into ``songs`` the songs
    staged for that hour, and a later hour modelled before it fails ``plays_songs_exist``.
    """
    submissions = backfill(client, "all", hours[0], hours[-1], grain="hour")
    keys = list(submissions[0].keys)
    since = min(s.since for s in submissions)
    events = wait_for_partitions(client, ["stage_events"], keys, since=since, timeout=300)
    assert {run["state"] for run in events["stage_events"].values()} == {"success"}
    return submissions, wait_for_held_task(client, conn)


def lock_waiters(conn: psycopg.Connection) -> int:
    """Sessions of the warehouse waiting for an advisory lock (a held ``stage_songs``)."""
    return conn.execute(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND wait_event = 'advisory' AND query LIKE '%%pg_advisory_xact_lock%%'"
    ).fetchone()[0]


def wait_for_held_task(client, conn: psycopg.Connection, timeout: float = 180) -> dict:
    """The running ``stage_songs`` task instance, once its load waits on the held lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = client.get("/dags/stage_songs/dagRuns/~/taskInstances", state="running")[
            "task_instances"
        ]
        # The backfill's; at a full hour the scheduler starts a run of the hour just ended.
        running = [ti for ti in running if not ti["dag_run_id"].startswith("scheduled__")]
        running = [ti for ti in running if ti.get("hostname")]
        if running and lock_waiters(conn):
            assert len(running) == 1, running  # stage_songs runs one partition at a time
            return running[0]
        time.sleep(0.3)
    raise AssertionError("no stage_songs task came to wait on the held lock")


def part_of(hostname: str) -> str:
    """``worker-1@host`` -> the stack part ``worker-1``."""
    part = hostname.split("@", 1)[0]
    assert celery_parts.is_worker(part), hostname
    return part


def kill_session(stack: Stack, part: str) -> list[int]:
    """SIGKILL every process of ``part``'s session, as a machine that dies would lose them;
    returns their PIDs once all are gone."""
    members = stack.processes(part)
    assert members, f"{part} is not running"
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(signal.SIGKILL)
    assert stack_process.wait_gone(members, 10) == []
    return [m.pid for m in members]


def tries(client, ti: dict) -> list[dict]:
    path = f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/tries"
    return sorted(client.get(path)["task_instances"], key=lambda t: t["try_number"])


def api_answers(stack: Stack) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.api_url}/api/v2/monitor/health", timeout=5):
            return True
    except OSError:
        return False


def start_lines(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, queue.Queue]:
    """Start ``cmd``; its output lines arrive in the queue (None at the end)."""
    child = subprocess.Popen(
        cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in child.stdout:  # type: ignore[union-attr]
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return child, lines


def read_until(lines: queue.Queue, wanted: str, seen: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError("the command ended early:\n" + "\n".join(seen))
        seen.append(line)
        if wanted in line:
            return
    raise AssertionError(f"no {wanted!r} after {timeout:.0f}s:\n" + "\n".join(seen))


# -- tests ---------------------------------------------------------------------------------------
def test_the_stack_runs_the_celery_executor_with_two_workers(celery_stack: Stack):
    env = celery_stack.env()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert celery_stack.config["executor"] == "celery"
    assert celery_stack.config["workers"] == WORKERS
    parts = celery_stack.status()
    assert {"redis", "worker-1", "worker-2"} <= set(parts)
    assert {name: p["state"] for name, p in parts.items()} == dict.fromkeys(parts, "healthy")
    # Redis, like every part, listens on the loopback address only, and wants its password.
    sockets = celery_stack.listening_sockets()
    redis_port = celery_stack.config["ports"]["redis"]
    assert ("redis", celery_stack.pid("redis"), "127.0.0.1", redis_port) in sockets
    assert {addr for _part, _pid, addr, _port in sockets} == {"127.0.0.1"}, sockets
    import redis

    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=3).ping()
    # Nothing persisted outside the state directory: Redis's only file is its config.
    assert sorted(p.name for p in (celery_stack.state_dir / "redis").iterdir()) == ["redis.conf"]


def test_up_refuses_another_executor_while_running(celery_stack: Stack):
    with pytest.raises(StackError, match="stack down"):
        celery_stack.up(executor="local", timeout=30)
    with pytest.raises(StackError, match="stack down"):
        celery_stack.up(executor="celery", workers=3, timeout=30)
    assert celery_stack.config["workers"] == WORKERS  # unchanged


def test_undisturbed_run_counts_are_exact_on_both_workers(celery_live, reference, source, window):
    stack, client = celery_live
    latest, _digests = reference
    expected = expected_counts(read_events(source), read_songs(source), window)
    assert expected["songplays_matched"] > 0
    assert table_counts(stack.warehouse_dsn()) == expected
    per_host = task_instances_per_host(client, latest)
    hosts = {celery_parts.celery_hostname(f"worker-{n}") for n in range(1, WORKERS + 1)}
    assert set(per_host) == hosts, per_host
    assert all(count > 0 for count in per_host.values()), per_host
    # Every task of every run of the window, each counted once, on one of the two workers.
    tasks = {d: client.get(f"/dags/{d}/tasks")["total_entries"] for d in PIPELINE_DAGS}
    assert sum(per_host.values()) == sum(tasks[d] * len(latest[d]) for d in PIPELINE_DAGS)


def test_worker_killed_mid_task_the_task_runs_again_on_the_other_worker(
    celery_live, reference, window
):
    stack, client = celery_live
    _latest, undisturbed = reference
    dsn = stack.warehouse_dsn()
    reset(client, dsn)
    with songs_held(dsn) as conn:
        submissions, held = start_held_backfill(client, conn, window)
        victim = part_of(held["hostname"])
        # In flight: the task is running on the victim and its load waits on the lock.
        assert (
            client.get(f"/dags/stage_songs/dagRuns/{held['dag_run_id']}/taskInstances/stage_songs")[
                "state"
            ]
            == "running"
        )
        killed = kill_session(stack, victim)
        print(f"killed {victim} ({len(killed)} processes) under {held['dag_run_id']}")
        assert stack.pid(victim) is None
    latest = run_chain(client, window, submissions)
    history = tries(client, held)
    first = next(t for t in history if t["try_number"] == held["try_number"])
    assert first["hostname"] == held["hostname"]
    assert first["state"] != "success"
    assert history[-1]["state"] == "success"
    assert part_of(history[-1]["hostname"]) != victim
    assert fingerprints(dsn, window) == undisturbed
    # Everything after the kill ran on the surviving worker.
    assert set(task_instances_per_host(client, {"stage_songs": latest["stage_songs"]})) <= {
        h["hostname"] for h in history[-1:]
    }
    stack.up(timeout=UP_TIMEOUT_S)  # the dead worker comes back, for the next tests
    assert stack.status()[victim]["healthy"]


def test_api_server_restarted_while_backfill_waits_it_reconnects_and_finishes(
    celery_live, reference, window
):
    stack, client = celery_live
    _latest, undisturbed = reference
    dsn = stack.warehouse_dsn()
    reset(client, dsn)
    first, last = (h.strftime("%Y-%m-%dT%H") for h in (window[0], window[-1]))
    cmd = [
        str(Path(sys.executable).with_name("sparkify")), "backfill", "--from", first,
        "--to", last, "--grain", "hour", "--quiet", "--timeout", str(CHAIN_TIMEOUT_S),
    ]  # fmt: skip
    env = {**os.environ, "SPARKIFY_HOME": str(stack.state_dir)}
    for name in ("SPARKIFY_API_URL", "SPARKIFY_API_TOKEN", "SPARKIFY_API_USERNAME"):
        env.pop(name, None)  # the stack's own login, from its state directory
    seen: list[str] = []
    keys = [h.strftime("%Y-%m-%dT%H:%M:%S") for h in window]
    with songs_held(dsn) as conn:
        since = datetime.now(UTC)
        cli, lines = start_lines(cmd, env)
        try:
            read_until(lines, "stage_songs:", seen, timeout=120)  # submitted; now it waits
            # As start_held_backfill does, for the same reason.
            wait_for_partitions(client, ["stage_events"], keys, since=since, timeout=300)
            wait_for_held_task(client, conn)
            old = stack.pid("api-server")
            assert stack_process.terminate_sessions([old], timeout=30) == []
            assert not api_answers(stack)
            time.sleep(3)  # a few of the command's polls go unanswered
            assert cli.poll() is None, "\n".join(seen)  # still waiting, not failed
            stack.up(timeout=UP_TIMEOUT_S)
            assert stack.pid("api-server") not in (None, old)
        except BaseException:
            cli.kill()
            raise
    assert cli.wait(timeout=CHAIN_TIMEOUT_S) == 0, "\n".join(seen + _drain(lines))
    out = seen + _drain(lines)
    for dag_id in PIPELINE_DAGS:
        assert f"{dag_id}: {WINDOW_HOURS} succeeded, 0 failed" in out, out
    assert fingerprints(dsn, window) == undisturbed


def _drain(lines: queue.Queue) -> list[str]:
    out = []
    while (line := lines.get(timeout=10)) is not None:
        out.append(line)
    return out


def test_scheduler_killed_mid_backfill_every_partition_completes(celery_live, reference, window):
    stack, client = celery_live
    _latest, undisturbed = reference
    dsn = stack.warehouse_dsn()
    reset(client, dsn)
    with songs_held(dsn) as conn:
        submissions, held = start_held_backfill(client, conn, window)
        old = stack.pid("scheduler")
        kill_session(stack, "scheduler")
        assert stack.pid("scheduler") is None
        # In flight: the held task still runs on its worker, its runs unfinished.
        assert lock_waiters(conn)
        stack.up(timeout=UP_TIMEOUT_S)  # a new scheduler, as a supervisor would start
        assert stack.pid("scheduler") not in (None, old)
    run_chain(client, window, submissions)
    history = tries(client, held)
    assert history[-1]["state"] == "success"
    assert fingerprints(dsn, window) == undisturbed


def test_metadata_database_restarted_mid_backfill_every_partition_completes(
    celery_live, reference, window
):
    stack, client = celery_live
    _latest, undisturbed = reference
    dsn = stack.warehouse_dsn()
    reset(client, dsn)
    with songs_held(dsn) as conn:
        submissions, held = start_held_backfill(client, conn, window)
        old = stack.pid("postgres")
        # One server holds the metadata database and the warehouse: the restart ends every
        # session, the held task's included (its retry loads the hour again).
        new = stack.restart_postgres()
        assert new != old
    restarted = supervise(stack, SUPERVISE_S)
    print(f"parts that exited in the outage and were started again: {restarted or 'none'}")
    run_chain(client, window, submissions)
    # The held task lost its warehouse session in the restart: a later try finished it.
    history = tries(client, held)
    assert history[-1]["state"] == "success"
    assert history[-1]["try_number"] > held["try_number"]
    assert fingerprints(dsn, window) == undisturbed


def supervise(stack: Stack, seconds: float) -> list[str]:
    """For ``seconds``, start again any part that has exited, as systemd or Kubernetes do
    for a deployment's processes; returns the parts restarted. Airflow 3.3's scheduler
    exits when the metadata database refuses a connection at the wrong moment of its loop
    (in one run of two here it rode the restart out); the local stack has no supervisor of
    its own, and ``sparkify stack up`` is how its user starts a dead part again."""
    restarted: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if dead := [part for part in stack.parts() if stack.pid(part) is None]:
            restarted += dead
            stack.up(timeout=UP_TIMEOUT_S)
        time.sleep(1)
    return restarted
