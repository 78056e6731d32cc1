"""The whole local stack, for real: up, use each part, check it is local only, down.

Runs a stack of its own in a fresh state directory (not the test session's shared one),
so that bringing it down does not disturb other tests. The tests run in file order and
share one ``up``; the last one brings the stack down.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import psutil
import psycopg
import pytest

from sparkify.local.stack import process as stack_process
from sparkify.local.stack.postgres import PostgresError, find_bindir
from sparkify.local.stack.stack import AIRFLOW_PARTS, PARTS, Stack

pytestmark = pytest.mark.integration

UP_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def live_stack():
    try:
        find_bindir()
    except PostgresError as exc:
        if os.environ.get("CI"):
            raise  # CI installs PostgreSQL; missing there is a failure, not a skip
        pytest.skip(str(exc))
    # Not pytest's tmp_path: that is under a 0700 directory the postgres user cannot enter.
    state = Path(tempfile.mkdtemp(prefix="sparkify-stack-test-"))
    state.chmod(0o755)
    stack = Stack(state)
    started = time.monotonic()
    try:
        stack.up(timeout=UP_TIMEOUT_S)
        stack.up_seconds = time.monotonic() - started  # type: ignore[attr-defined]
        yield stack
    finally:
        try:
            stack.down()
        finally:
            shutil.rmtree(state, ignore_errors=True)


def all_processes(stack: Stack) -> dict[int, str]:
    """PID -> part, for every live process of every part."""
    return {p.pid: part for part in PARTS for p in stack.processes(part)}


def test_every_part_is_healthy(live_stack: Stack):
    print(f"stack healthy after {live_stack.up_seconds:.1f}s")  # type: ignore[attr-defined]
    parts = live_stack.status()
    assert set(parts) == set(PARTS)  # the LocalExecutor's: no Redis, no Celery workers
    assert live_stack.env()["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    unhealthy = {name: p for name, p in parts.items() if not p["healthy"]}
    assert not unhealthy
    assert all(p["wanted"] and p["pid"] for p in parts.values())


def test_warehouse_takes_password_logins_only(live_stack: Stack):
    with psycopg.connect(live_stack.warehouse_dsn()) as conn:
        user, db = conn.execute("SELECT current_user, current_database()").fetchone()
        assert (user, db) == ("sparkify", "sparkify")
    conn_info = json.loads(live_stack.env()["AIRFLOW_CONN_WAREHOUSE"])
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host="127.0.0.1",
            port=conn_info["port"],
            dbname="sparkify",
            user="sparkify",
            password="wrong",
        )


def test_metadata_database_is_migrated(live_stack: Stack):
    url = live_stack.env()["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        assert conn.execute("SELECT to_regclass('public.dag_run')").fetchone()[0] == "dag_run"


def test_s3_endpoint_stores_objects_in_the_bucket(live_stack: Stack):
    env = live_stack.env()
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    s3.put_object(Bucket=live_stack.bucket, Key="log_data/probe.json", Body=b'{"ts": 1}\n')
    body = s3.get_object(Bucket=live_stack.bucket, Key="log_data/probe.json")["Body"].read()
    assert body == b'{"ts": 1}\n'


def test_api_server_reports_every_component_healthy(live_stack: Stack):
    with urllib.request.urlopen(f"{live_stack.api_url}/api/v2/monitor/health", timeout=30) as r:
        health = json.load(r)
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health


def test_rest_api_needs_the_generated_admin_login(live_stack: Stack):
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{live_stack.api_url}/api/v2/dags", timeout=5)
    assert denied.value.code in (401, 403)
    with live_stack.api_client() as client:
        assert "dags" in client.get("/dags", limit=1)
        assert client.get("/version")["version"].startswith("3.")


def test_only_loopback_addresses_are_listened_on(live_stack: Stack):
    sockets = live_stack.listening_sockets()
    cfg = live_stack.config
    ports = {port for _part, _pid, _addr, port in sockets}
    assert {cfg["ports"]["postgres"], cfg["ports"]["s3"], cfg["ports"]["api"]} <= ports
    assert {addr for _part, _pid, addr, _port in sockets} == {"127.0.0.1"}, sockets
    # The same seen from outside, by `ss`, over every process of the stack.
    if shutil.which("ss"):
        ours = all_processes(live_stack)
        out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if {int(pid) for pid in re.findall(r"pid=(\d+)", line)} & set(ours):
                assert line.split()[3].startswith("127.0.0.1:"), line


def test_up_again_leaves_healthy_parts_alone(live_stack: Stack):
    before = {part: live_stack.pid(part) for part in PARTS}
    live_stack.up(timeout=60)
    assert {part: live_stack.pid(part) for part in PARTS} == before


def test_up_restarts_a_dead_part(live_stack: Stack):
    old = live_stack.pid("s3")
    stack_process.terminate_sessions([old], timeout=10)
    assert live_stack.pid("s3") is None
    assert not live_stack.status()["s3"]["healthy"]
    live_stack.up(("s3",), timeout=60)
    assert live_stack.pid("s3") not in (None, old)
    assert live_stack.status()["s3"]["healthy"]  # bucket created again


def test_down_stops_every_process_it_started(live_stack: Stack):
    started = all_processes(live_stack)
    assert set(started.values()) == set(PARTS)
    assert sum(1 for part in started.values() if part in AIRFLOW_PARTS) > len(AIRFLOW_PARTS)

    live_stack.down()

    left = {pid: part for pid, part in started.items() if stack_process.is_running(pid)}
    assert not left, {pid: psutil.Process(pid).cmdline() for pid in left}
    assert not list(live_stack.run_dir.glob("*.pid"))
    assert not any(p["pid"] for p in live_stack.status().values())
