"""The local stack's configuration: its parts, its ports and the environment that points
Airflow, the ``sparkify`` CLI and boto3 at it. Nothing here starts or stops anything."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypedDict

from sparkify.errors import CliError
from sparkify.local.stack import process as proc

HOST = "127.0.0.1"
DEFAULT_BUCKET = "sparkify-local"
ADMIN_USER = "admin"
WAREHOUSE_DB = WAREHOUSE_ROLE = "sparkify"
# SELECT only: the health page and ``sparkify report`` read through it (warehouse_read).
WAREHOUSE_READ_ROLE = "sparkify_read"
AIRFLOW_DB = AIRFLOW_ROLE = "airflow"
AWS_REGION = "us-east-1"
FAKE_AWS_KEY = "testing"  # moto accepts any credentials; these are obviously fake
# The SQS queue on the same moto endpoint that the bucket notifies (local/stack/notifications).
QUEUE_NAME = "sparkify-landing"
MOTO_ACCOUNT = "123456789012"  # moto's default account: the one its S3 notifies

COMPONENTS = ("postgres", "s3", "airflow-db", "airflow")
# What each component needs as well: Airflow its metadata database, which needs postgres.
_REQUIRES = {"airflow": ("postgres", "airflow-db"), "airflow-db": ("postgres",)}
AIRFLOW_PARTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# The Redshift rehearsal (sparkify.local.redshift), a part only with `--warehouse redshift`.
REDSHIFT_PART = "redshift"
WAREHOUSES = ("postgres", "redshift")
# Not a secret: a role ARN names no credential, and the rehearsal assumes no role.
REHEARSAL_IAM_ROLE = "arn:aws:iam::000000000000:role/sparkify-redshift-rehearsal"
PARTS = ("postgres", "s3", *AIRFLOW_PARTS)
# Every part a stack may run: status lists the rehearsal only where it is wanted.
ALL_PARTS = (*PARTS, REDSHIFT_PART)
PORT_ENV = {"postgres": "SPARKIFY_PG_PORT", "s3": "SPARKIFY_S3_PORT", "api": "SPARKIFY_API_PORT"}
PORT_ENV["redshift"] = "SPARKIFY_REDSHIFT_PORT"
PORT_ENV["redis"] = "SPARKIFY_REDIS_PORT"  # the CeleryExecutor's broker; chosen even if unused
# What each part runs, listens on, answers and when it stops: sparkify.local.stack.parts.
SECRETS = {
    "warehouse_password": lambda: secrets.token_urlsafe(18),
    "warehouse_read_password": lambda: secrets.token_urlsafe(18),
    "airflow_db_password": lambda: secrets.token_urlsafe(18),
    "admin_password": lambda: secrets.token_urlsafe(12),
    # Airflow signs with HS512, for which PyJWT wants a key of at least 64 bytes.
    "jwt_secret": lambda: secrets.token_urlsafe(64),
    "api_secret_key": lambda: secrets.token_urlsafe(32),
    "fernet_key": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "redis_password": lambda: secrets.token_urlsafe(24),
}

# The executor: Airflow's LocalExecutor (the default), or the CeleryExecutor with a Redis
# broker (Debian's redis-server) and N workers, each a part of its own (``worker-1`` ...).
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
DEFAULT_EXECUTOR = "local"
DEFAULT_WORKERS = 2
REDIS_PART = "redis"
WORKER_PREFIX = "worker-"
# Task slots per Celery worker: two workers hold as many as the LocalExecutor's parallelism.
WORKER_CONCURRENCY = 4
# Each worker's task processes report this as their task instances' hostname.
WORKER_HOSTNAME_ENV = "SPARKIFY_WORKER_HOSTNAME"


# Settings the stack keeps from the environment of its first `up` (or a later one that sets
# them), like the bucket: where the pipeline's data is in it.
DATA_PLACES = ("events_prefix", "songs_prefix")


class StackError(CliError):
    """The stack could not be brought up, checked or down; says which log to read."""


class PartStatus(TypedDict):
    pid: int | None
    port: int | None
    healthy: bool
    wanted: bool  # asked for by an ``up`` since the last ``down``
    state: str  # healthy | unhealthy | stopped
    detail: str
    log: str


def default_state_dir() -> Path:
    return Path(os.environ.get("SPARKIFY_HOME") or ".sparkify").resolve()


def dags_folder() -> Path:
    """``$SPARKIFY_DAGS_FOLDER``, else ``dags/`` beside the package's pyproject.toml."""
    if override := os.environ.get("SPARKIFY_DAGS_FOLDER"):
        return Path(override).resolve()
    import sparkify

    root = Path(sparkify.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").exists():
        raise StackError("Cannot find the repository's dags/ folder: set SPARKIFY_DAGS_FOLDER")
    return root / "dags"


def expand_components(components: Iterable[str]) -> list[str]:
    """The components asked for plus what they need, in start order."""
    wanted = set()
    for name in components:
        if name not in COMPONENTS:
            raise StackError(f"Unknown component {name!r}; choose from {', '.join(COMPONENTS)}")
        wanted |= {name, *_REQUIRES.get(name, ())}
    return [c for c in COMPONENTS if c in wanted]


def choose_ports(stored: dict[str, int], environ: dict[str, str]) -> dict[str, int]:
    """Ports from the environment, else the remembered ones, else new free ones."""
    ports = {}
    for name, var in PORT_ENV.items():
        if environ.get(var):
            try:
                ports[name] = int(environ[var])
            except ValueError:
                raise StackError(f"{var} must be a port number, not {environ[var]!r}") from None
        elif name in stored:
            ports[name] = int(stored[name])
    for name in PORT_ENV:
        while name not in ports:
            port = proc.free_port(HOST)
            if port not in ports.values():
                ports[name] = port
    return ports


def worker_parts(workers: int) -> tuple[str, ...]:
    """``worker-1`` .. ``worker-N``."""
    return tuple(f"{WORKER_PREFIX}{n}" for n in range(1, workers + 1))


def executor_parts(cfg: dict[str, Any] | None) -> tuple[str, ...]:
    """The parts the configured executor adds to Airflow's: Redis and the Celery workers."""
    if not cfg or cfg.get("executor", DEFAULT_EXECUTOR) != "celery":
        return ()
    return (REDIS_PART, *worker_parts(int(cfg.get("workers", DEFAULT_WORKERS))))


def executor_env(cfg: dict[str, Any]) -> dict[str, str]:
    """Airflow's executor settings for ``cfg["executor"]`` (nothing for the LocalExecutor)."""
    if cfg.get("executor", DEFAULT_EXECUTOR) != "celery":
        return {}
    ports, sec = cfg["ports"], cfg["secrets"]
    return {
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS["celery"],
        "AIRFLOW__CELERY__BROKER_URL": (
            f"redis://:{sec['redis_password']}@{HOST}:{ports['redis']}/0"
        ),
        # Task states on the metadata database, as SQLAlchemy URLs with celery's db+ prefix.
        "AIRFLOW__CELERY__RESULT_BACKEND": (
            f"db+postgresql://{AIRFLOW_ROLE}:{sec['airflow_db_password']}"
            f"@{HOST}:{ports['postgres']}/{AIRFLOW_DB}"
        ),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
    }


def render_env(cfg: dict[str, Any], *, state_dir: Path, dags: Path) -> dict[str, str]:
    """Everything a process needs to use the stack: Airflow's config, connections, AWS."""
    ports, sec = cfg["ports"], cfg["secrets"]
    api_url, s3_url = f"http://{HOST}:{ports['api']}", f"http://{HOST}:{ports['s3']}"
    home = state_dir / "airflow"
    metadata_url = (
        f"postgresql+psycopg2://{AIRFLOW_ROLE}:{sec['airflow_db_password']}"
        f"@{HOST}:{ports['postgres']}/{AIRFLOW_DB}"
    )
    warehouse = {
        "conn_type": "postgres",
        "host": HOST,
        "port": ports["postgres"],
        "login": WAREHOUSE_ROLE,
        "password": sec["warehouse_password"],
        "schema": WAREHOUSE_DB,
    }
    redshift = cfg.get("warehouse") == "redshift"
    if redshift:
        # Every task goes through RedshiftSQLHook and redshift_connector, to the rehearsal.
        warehouse = {
            **warehouse,
            "conn_type": "redshift",
            "port": ports["redshift"],
            "extra": {"ssl": False},  # the rehearsal, on 127.0.0.1, declines SSL
        }
    reader = {**warehouse, "login": WAREHOUSE_READ_ROLE, "password": sec["warehouse_read_password"]}
    aws = {
        "conn_type": "aws",
        "login": FAKE_AWS_KEY,
        "password": FAKE_AWS_KEY,
        "extra": {"endpoint_url": s3_url, "region_name": AWS_REGION},
    }
    return {
        "SPARKIFY_HOME": str(state_dir),
        "SPARKIFY_ENV": "local",
        "SPARKIFY_BUCKET": cfg["bucket"],
        # Where the data is, when the stack was brought up with it moved: every process and
        # shell that uses the stack reads the same places (`sparkify stack env`).
        **{f"SPARKIFY_{k.upper()}": cfg[k] for k in DATA_PLACES if cfg.get(k)},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # The LocalExecutor forks this many workers up front (32 by default): plenty locally.
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": sec["fernet_key"],
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        # Task logs as private as the rest of the state (Airflow's defaults: 0775 and 0664).
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
        # The API server re-checks a cached DAG this often; keep edits visible quickly.
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "5",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(ports["api"]),
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__SECRET_KEY": sec["api_secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": sec["jwt_secret"],
        # New DAG files are noticed within seconds; a file is re-parsed at most once a
        # minute. Each parse is a fresh process importing Airflow: every 10 s it took a
        # fifth of this two-core machine, and a 12-hour backfill ran 27 % faster at 60 s
        # (docs/benchmarks.md).
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "bundles"),
        # Off by default, but its server would bind 0.0.0.0: make sure it stays off.
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW_CONN_WAREHOUSE": json.dumps(warehouse),
        "AIRFLOW_CONN_WAREHOUSE_READ": json.dumps(reader),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
        "AWS_ENDPOINT_URL": s3_url,
        "AWS_ACCESS_KEY_ID": FAKE_AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_AWS_KEY,
        "AWS_DEFAULT_REGION": AWS_REGION,
        # route_notifications' watcher: the queue on the moto endpoint, reached through the
        # aws_default connection's endpoint_url (the SQS trigger uses the same connection).
        "SPARKIFY_NOTIFICATIONS_QUEUE": queue_url(s3_url),
        **({"SPARKIFY_IAM_ROLE": REHEARSAL_IAM_ROLE} if redshift else {}),
        **executor_env(cfg),
    }


def queue_url(endpoint: str, queue: str = QUEUE_NAME) -> str:
    """The notifications queue's URL on the moto endpoint, known before the queue exists:
    the environment of Airflow's processes names it."""
    return f"{endpoint.rstrip('/')}/{MOTO_ACCOUNT}/{queue}"


def export_lines(env: dict[str, str]) -> str:
    """``export K=V`` lines, shell-quoted, for ``eval "$(sparkify stack env)"``."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(env.items()))
