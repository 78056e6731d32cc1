"""The CeleryExecutor's parts of the local stack: a Redis broker and N Celery workers.

- ``redis``: Debian's ``redis-server`` on 127.0.0.1 with a generated password and
  protected mode, its configuration file (mode 0600: it holds the password) and working
  directory in ``<state>/redis``, no RDB snapshots and no append-only file: the queue is
  transient, Airflow's metadata database says what ran;
- ``worker-1`` .. ``worker-N``: ``airflow celery worker --skip-serve-logs`` (its log
  server would bind 0.0.0.0; every part writes logs into the shared ``AIRFLOW_HOME``),
  each with its own Celery hostname, which its task processes also report as their task
  instances' ``hostname`` (``hostname()`` below is their ``[core] hostname_callable``).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from sparkify.local.stack.config import (
    HOST,
    REDIS_PART,
    WORKER_HOSTNAME_ENV,
    WORKER_PREFIX,
    StackError,
)
from sparkify.local.stack.process import open_private

REDIS_SERVER = "redis-server"
_REDIS_PATHS = ("/usr/bin/redis-server", "/usr/local/bin/redis-server")


def is_worker(part: str) -> bool:
    return part.startswith(WORKER_PREFIX)


def celery_hostname(part: str) -> str:
    """A worker's Celery node name, ``worker-1@<machine>``: unique per worker here."""
    return f"{part}@{socket.gethostname()}"


def hostname() -> str:
    """The ``[core] hostname_callable`` of the workers' task processes: their worker's node
    name, so that task instances on one machine say which worker ran them."""
    if name := os.environ.get(WORKER_HOSTNAME_ENV):
        return name
    from airflow.utils.net import getfqdn  # Airflow's default, outside the stack's workers

    return getfqdn()


def find_redis_server() -> str:
    """The ``redis-server`` binary (Debian's package ``redis-server``)."""
    found = shutil.which(REDIS_SERVER) or next(
        (p for p in _REDIS_PATHS if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise StackError(
            "redis-server not found; the CeleryExecutor needs it: "
            "apt-get install --no-install-recommends redis-server"
        )
    return found


def write_redis_config(cfg: dict[str, Any], redis_dir: Path) -> Path:
    """``<state>/redis/redis.conf``: loopback only, password, nothing persisted."""
    redis_dir.mkdir(parents=True, exist_ok=True)
    redis_dir.chmod(0o700)
    path = redis_dir / "redis.conf"
    lines = [
        f"bind {HOST}",
        f"port {cfg['ports']['redis']}",
        "protected-mode yes",
        f"requirepass {cfg['secrets']['redis_password']}",
        f"dir {redis_dir}",
        'save ""',
        "appendonly no",
        "daemonize no",
        'logfile ""',  # stdout, which the stack appends to logs/redis.log
    ]
    with os.fdopen(open_private(path), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def redis_command(config_path: Path) -> list[str]:
    return [find_redis_server(), str(config_path)]


def worker_command(part: str) -> list[str]:
    return [
        sys.executable, "-m", "airflow", "celery", "worker", "--skip-serve-logs",
        "--celery-hostname", celery_hostname(part), "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def worker_env(part: str) -> dict[str, str]:
    """What a worker adds to the stack's environment."""
    return {
        WORKER_HOSTNAME_ENV: celery_hostname(part),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.hostname",
    }


def redis_healthy(cfg: dict[str, Any]) -> tuple[bool, str]:
    """(healthy, detail): does Redis answer PING with the stack's password?"""
    import redis

    client = redis.Redis(
        host=HOST,
        port=cfg["ports"]["redis"],
        password=cfg["secrets"]["redis_password"],
        socket_timeout=3,
        socket_connect_timeout=3,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        client.close()
    return True, "answering PING"


def ping_workers(broker_url: str, parts: list[str], timeout: float = 2.0) -> set[str]:
    """The parts among ``parts`` whose Celery worker answers a broadcast ping."""
    if not parts:
        return set()
    from celery import Celery

    app = Celery(broker=broker_url)
    names = {celery_hostname(part): part for part in parts}
    try:
        replies = app.control.ping(destination=list(names), timeout=timeout, limit=len(names))
    except Exception:  # broker down: nobody answers
        return set()
    finally:
        app.close()
    return {names[node] for reply in replies for node in reply if node in names}


__all__ = [
    "REDIS_PART",
    "celery_hostname",
    "find_redis_server",
    "hostname",
    "is_worker",
    "ping_workers",
    "redis_command",
    "redis_healthy",
    "worker_command",
    "worker_env",
    "write_redis_config",
]
