"""The local stack's state directory: ``stack.json`` (ports, secrets, what runs), its
private modes, pid files and logs, the lock of ``up`` and ``down``, and what the state
says about reaching the stack (environment, URLs, clients). Nothing here starts or stops
a part: ``sparkify.local.stack.up`` and ``.down`` do, on ``Stack`` (``.stack``).

The state is private to the user who runs the stack: the state directory and every
directory the stack makes in it are mode 0700 and every file it writes 0600, and the
processes it starts run with the umask 0077, so what they write (``airflow.cfg``, logs) is
private too (``sparkify.local.stack.process``). Each ``init_config``, ``up`` and ``down``
makes the modes of an older state so. Run as root, PostgreSQL runs as the ``postgres``
user, which must pass through the state directory and ``logs`` to its data directory
(``pg``, 0700, its own) and its log: those two are then 0710 with the ``postgres`` user's
group, which can enter them but not list them, and whose every file is 0600 (PostgreSQL's
log is the ``postgres`` user's, every other file root's).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkify.local.stack import parts as stack_parts
from sparkify.local.stack import process as proc
from sparkify.local.stack import workers as celery_parts
from sparkify.local.stack.config import (
    ADMIN_USER,
    DATA_PLACES,
    DEFAULT_BUCKET,
    DEFAULT_EXECUTOR,
    HOST,
    PARTS,
    REDSHIFT_PART,
    SECRETS,
    WAREHOUSE_DB,
    WAREHOUSE_READ_ROLE,
    WAREHOUSE_ROLE,
    StackError,
    choose_ports,
    dags_folder,
    default_state_dir,
    executor_parts,
    render_env,
)
from sparkify.local.stack.postgres import SERVER_USER, PostgresCluster

if TYPE_CHECKING:
    from sparkify.control.api import ApiClient
    from sparkify.pipeline.settings import Settings

# What the stack (and the demo) keep in the state directory besides logs, run and airflow.
OWN_FILES = ("stack.json", "stack.tmp", "stack.lock", "report.html")
OWN_DIRS = ("redis", "demo-data")


class StackState:
    """The state of the stack in ``state_dir`` (default: ``default_state_dir()``)."""

    def __init__(
        self, state_dir: Path | str | None = None, *, environ: dict[str, str] | None = None
    ) -> None:
        self.state_dir = Path(state_dir).resolve() if state_dir else default_state_dir()
        # Added to every process it starts, over its own settings (tests' shorter timeouts).
        self.extra_env = dict(environ or {})
        self.config_path = self.state_dir / "stack.json"
        self.log_dir = self.state_dir / "logs"
        self.run_dir = self.state_dir / "run"
        self.airflow_home = self.state_dir / "airflow"
        self._children: dict[str, subprocess.Popen] = {}

    # -- configuration -------------------------------------------------------------------
    def _read_config(self) -> dict[str, Any] | None:
        try:
            cfg = json.loads(self.config_path.read_text())
        except FileNotFoundError:
            return None
        cfg["ports"] = choose_ports(cfg.get("ports", {}), dict(os.environ))
        return cfg

    @property
    def config(self) -> dict[str, Any]:
        cfg = self._read_config()
        if cfg is None:
            raise StackError(f"No stack in {self.state_dir}: run `sparkify stack up` first")
        return cfg

    def init_config(self) -> dict[str, Any]:
        """Choose ports and generate secrets (first time only) without starting anything,
        so that ``env()`` can be exported before Airflow is imported."""
        self._secure_state_dir()
        cfg = self._read_config() or {"version": 1, "ports": {}, "secrets": {}, "components": []}
        cfg["ports"] = choose_ports(cfg["ports"], dict(os.environ))
        cfg["bucket"] = os.environ.get("SPARKIFY_BUCKET") or cfg.get("bucket") or DEFAULT_BUCKET
        for name in DATA_PLACES:
            if value := os.environ.get(f"SPARKIFY_{name.upper()}") or cfg.get(name):
                cfg[name] = value
        for name, make in SECRETS.items():
            cfg["secrets"].setdefault(name, make())
        self._save_config(cfg)
        return cfg

    def _save_config(self, cfg: dict[str, Any]) -> None:
        proc.private_dir(self.state_dir)
        tmp = self.config_path.with_suffix(".tmp")
        with os.fdopen(proc.open_private(tmp), "w") as fh:
            json.dump(cfg, fh, indent=2)
        os.replace(tmp, self.config_path)

    def _secure_state_dir(self) -> None:
        """Make the state directory, ``logs``, ``run`` and ``airflow`` private (see the
        module's docstring: 0700, or 0710 with the ``postgres`` group as root) and take
        the group's and others' access from what an older state left: the stack's other
        directories in it, its own files in it, and every file in ``logs`` and ``run``."""
        shared_mode, group = postgres_passage()
        for path in (self.state_dir, self.log_dir, self.run_dir, self.airflow_home):
            proc.private_dir(path)
            mode = shared_mode if path in (self.state_dir, self.log_dir) else 0o700
            if group is not None and mode != 0o700:
                os.chown(path, -1, group)
            os.chmod(path, mode)
        own = [self.state_dir / name for name in (*OWN_FILES, *OWN_DIRS)]
        for path in (*own, *self.log_dir.iterdir(), *self.run_dir.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                info = path.lstat()
                if (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)) and (
                    info.st_mode & 0o077
                ):
                    os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One ``up``/``down`` at a time per state directory."""
        self._secure_state_dir()
        with os.fdopen(proc.open_private(self.state_dir / "stack.lock", os.O_WRONLY), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @property
    def executor(self) -> str:
        """``local`` or ``celery``: the executor of the last ``up`` (kept until ``down``)."""
        return (self._read_config() or {}).get("executor", DEFAULT_EXECUTOR)

    def airflow_is_new(self) -> bool:
        """Whether Airflow's metadata database is still to be made (no DAG known yet)."""
        cfg = self._read_config()
        return cfg is None or not cfg.get("airflow_migrated")

    # -- reaching the stack ------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The full environment mapping for ``airflow``, ``sparkify`` and boto3 users."""
        return render_env(self.config, state_dir=self.state_dir, dags=dags_folder())

    def _process_env(self) -> dict[str, str]:
        return {**os.environ, **self.env(), **self.extra_env, "PYTHONUNBUFFERED": "1"}

    def pipeline_settings(self) -> Settings:
        """The pipeline's settings as the stack's Airflow processes read them (their
        environment: the stack's over this process's), so that what the local tooling lands
        and the bucket notifies is where staging reads (``events_prefix``, ``songs_prefix``)."""
        from sparkify.pipeline import settings

        return settings.load(environ=self._process_env())

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.config['ports']['api']}"

    @property
    def s3_url(self) -> str:
        return f"http://{HOST}:{self.config['ports']['s3']}"

    @property
    def bucket(self) -> str:
        return self.config["bucket"]

    @property
    def admin_password(self) -> str:
        return self.config["secrets"]["admin_password"]

    def warehouse_dsn(self, *, reader: bool = False) -> str:
        """A libpq connection string for the warehouse database: as the warehouse role, or
        (``reader``) as the SELECT-only role the health page and reports use."""
        cfg = self.config
        role, secret = (
            (WAREHOUSE_READ_ROLE, "warehouse_read_password")
            if reader
            else (WAREHOUSE_ROLE, "warehouse_password")
        )
        return (
            f"host={HOST} port={cfg['ports']['postgres']} dbname={WAREHOUSE_DB} "
            f"user={role} password={cfg['secrets'][secret]}"
        )

    def s3_client(self, config: Any = None):
        """A boto3 S3 client for the stack's endpoint, with its credentials (``config``: a
        ``botocore.config.Config``)."""
        import boto3

        env = self.env()
        return boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
            config=config,
        )

    def api_client(self) -> ApiClient:
        """A REST client for ``/api/v2``, logged in as the admin user."""
        from sparkify.control.api import ApiClient

        return ApiClient(self.api_url, username=ADMIN_USER, password=self.admin_password)

    def api_token(self) -> str:
        with self.api_client() as client:
            return client.token()

    # -- parts: names, pid files, logs, processes ----------------------------------------------
    def log_path(self, part: str) -> Path:
        return self.log_dir / f"{part}.log"

    def _pid_path(self, part: str) -> Path:
        return self.run_dir / f"{part}.pid"

    def pid(self, part: str) -> int | None:
        """The PID of ``part`` if it is running, from its pid file."""
        return proc.read_pid(self._pid_path(part))

    def _postgres(self, cfg: dict[str, Any]) -> PostgresCluster:
        socket_dir = self.state_dir / "pg"
        if len(str(socket_dir)) > 80:  # sun_path is 108 bytes: fall back to a short path
            digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]
            socket_dir = Path("/tmp") / f"sparkify-{digest}"
        return PostgresCluster(
            self.state_dir / "pg",
            port=cfg["ports"]["postgres"],
            log_path=self.log_path("postgres"),
            socket_dir=socket_dir,
        )

    def processes(self, part: str) -> list:
        """The live ``psutil.Process`` objects of ``part``: its leader and everything under it."""
        pid = self.pid(part)
        if pid is None:
            return []
        if not stack_parts.part(part).own_session:
            return proc.process_tree(pid)
        return proc.session_members(pid) or proc.process_tree(pid)

    def listening_sockets(self) -> list[tuple[str, int, str, int]]:
        """``(part, pid, address, port)`` for every socket the stack's processes listen on."""
        return [
            (part, *sock)
            for part in self.parts()
            for sock in proc.listening_sockets(self.processes(part))
        ]

    def parts(self, cfg: dict[str, Any] | None = None) -> tuple[str, ...]:
        """Every part of this stack: ``PARTS``, what its executor adds, and the Redshift
        rehearsal where the stack's warehouse is redshift (or the rehearsal still runs)."""
        cfg = cfg if cfg is not None else self._read_config()
        rehearsal = (REDSHIFT_PART,) if (cfg or {}).get("warehouse") == "redshift" else ()
        if not rehearsal and self.pid(REDSHIFT_PART):
            rehearsal = (REDSHIFT_PART,)
        return (*PARTS, *executor_parts(cfg), *rehearsal)

    def worker_parts(self) -> tuple[str, ...]:
        """The Celery workers' part names, ``worker-1`` ..; none with the LocalExecutor."""
        return tuple(p for p in self.parts() if celery_parts.is_worker(p))

    def _fail(self, part: str, why: str) -> StackError:
        log = self.log_path(part)
        return StackError(f"{part} {why}; see {log}\n{proc.tail(log)}".rstrip())

    def _check_alive(self, part: str) -> None:
        if self.pid(part) is None:
            raise self._fail(part, f"exited ({proc.why_not_running(self._pid_path(part))})")


def postgres_passage() -> tuple[int, int | None]:
    """The mode of the state directory and ``logs``, and the group to give them: 0700 and
    none, or, as root with a ``postgres`` user (PostgreSQL then runs as that user and must
    pass through them), 0710 and that user's group."""
    if os.geteuid() != 0:
        return 0o700, None
    try:
        return 0o710, pwd.getpwnam(SERVER_USER).pw_gid
    except KeyError:
        return 0o700, None
