"""The local stack's health probes: does a part answer as it should? Each asks over the
network on 127.0.0.1 and returns at once (short timeouts); nothing here starts, stops or
waits. Which part is probed how: ``sparkify.local.stack.parts``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sparkify.local.stack.config import (
    AIRFLOW_DB,
    AIRFLOW_ROLE,
    HOST,
    WAREHOUSE_DB,
    WAREHOUSE_ROLE,
)

Health = tuple[bool, str]  # (healthy, detail)


def postgres_healthy(cfg: dict[str, Any], dbname: str = WAREHOUSE_DB) -> Health:
    """Does PostgreSQL accept a connection to ``dbname`` as its owner?"""
    import psycopg

    role, password = (
        (WAREHOUSE_ROLE, cfg["secrets"]["warehouse_password"])
        if dbname == WAREHOUSE_DB
        else (AIRFLOW_ROLE, cfg["secrets"]["airflow_db_password"])
    )
    try:
        with psycopg.connect(
            host=HOST, port=cfg["ports"]["postgres"], dbname=dbname, user=role,
            password=password, connect_timeout=3,
        ) as conn:  # fmt: skip
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return False, str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
    return True, "accepting connections"


def redshift_answers(cfg: dict[str, Any]) -> bool:
    """Does the Redshift rehearsal accept a TCP connection?"""
    import socket

    try:
        with socket.create_connection((HOST, cfg["ports"]["redshift"]), timeout=1):
            return True
    except OSError:
        return False


def s3_answer(cfg: dict[str, Any], path: str = "") -> int | None:
    """HTTP status of ``HEAD <s3>/<path>``, None if nothing answers."""
    url = f"http://{HOST}:{cfg['ports']['s3']}/{path}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=2):
            return 200
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def airflow_db_ready(cfg: dict[str, Any]) -> bool:
    """Does Airflow's metadata database hold Airflow's tables (``alembic_version``)?"""
    import psycopg

    s = cfg["secrets"]
    try:
        with psycopg.connect(
            host=HOST, port=cfg["ports"]["postgres"], dbname=AIRFLOW_DB, user=AIRFLOW_ROLE,
            password=s["airflow_db_password"], connect_timeout=3,
        ) as conn:  # fmt: skip
            row = conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()
    except psycopg.Error:
        return False
    return row is not None and row[0] is not None


def airflow_health(
    api_url: str, heartbeats: Mapping[str, str], pid: Callable[[str], int | None]
) -> dict[str, Health]:
    """(healthy, detail) of the API server and of each part in ``heartbeats`` (part ->
    its key in ``GET /api/v2/monitor/health``), whose heartbeat must be newer than the
    start of its process (``pid``: a part's PID)."""
    try:
        # Generous: on a loaded two-core machine the API server can take seconds to answer.
        url = f"{api_url}/api/v2/monitor/health"
        with urllib.request.urlopen(url, timeout=15) as r:
            health = json.load(r)
    except (OSError, ValueError) as exc:
        down = (False, "API server not answering")
        return {"api-server": (False, f"not answering: {exc}")} | dict.fromkeys(heartbeats, down)
    db_ok = (health.get("metadatabase") or {}).get("status") == "healthy"
    result = {"api-server": (db_ok, "answering" if db_ok else "metadatabase unhealthy")}
    for part, key in heartbeats.items():
        info = health.get(key) or {}
        beat = parse_time(info.get(f"latest_{key}_heartbeat"))
        started = started_at(pid(part))
        # After a restart the previous job's heartbeat may still look fresh.
        fresh = beat is not None and started is not None and beat >= started - 2
        ok = info.get("status") == "healthy" and fresh
        result[part] = (ok, "heartbeat ok" if ok else f"status {info.get('status')}")
    return result


def started_at(pid: int | None) -> float | None:
    """When the process ``pid`` started (epoch seconds); None if there is none."""
    import psutil

    try:
        return psutil.Process(pid).create_time() if pid else None
    except psutil.Error:
        return None


def parse_time(value: str | None) -> float | None:
    """An ISO 8601 time as epoch seconds; None if missing or unreadable."""
    try:
        return datetime.fromisoformat(value).timestamp() if value else None
    except ValueError:
        return None
