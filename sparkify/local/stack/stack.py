"""``sparkify stack up|down|status|env``: the local stack, on 127.0.0.1 only.

Parts, each a process started and stopped by its own PID:

- ``postgres``: a private PostgreSQL cluster in ``<state>/pg`` holding the ``sparkify``
  warehouse and Airflow's ``airflow`` metadata database, each with its own role;
- ``s3``: ``moto_server``, an S3 endpoint with the source bucket. moto keeps its data
  in memory: ``down`` (or a moto restart) loses everything landed; land it again;
- Airflow's ``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer``, sharing
  ``AIRFLOW_HOME=<state>/airflow``, the LocalExecutor and the repository's ``dags/``;
- with ``executor="celery"``: the CeleryExecutor, a Redis broker (``redis``) and N Celery
  workers (``worker-1`` ..), see ``sparkify.local.stack.workers``. The executor and the
  number of workers are kept in ``stack.json`` until ``down``.

The state directory is ``$SPARKIFY_HOME``, else ``./.sparkify``. Ports are chosen on the
first ``up`` and kept in ``<state>/stack.json`` (mode 0600) together with the generated
passwords and keys; ``SPARKIFY_PG_PORT``, ``SPARKIFY_S3_PORT`` and ``SPARKIFY_API_PORT``
override them. Logs are in ``<state>/logs``. Connections reach Airflow only through
the environment (``AIRFLOW_CONN_*``), which ``sparkify stack env`` prints.

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
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkify.errors import CliError
from sparkify.local.stack import notifications
from sparkify.local.stack import process as proc
from sparkify.local.stack import template as metadata_template
from sparkify.local.stack import workers as celery_parts
from sparkify.local.stack.config import (
    _AIRFLOW_ARGS,
    _HEALTH_KEY,
    _PARTS_OF,
    _PORT_OF,
    _SECRETS,
    _STOP_WHOLE_SESSION,
    ADMIN_USER,
    AIRFLOW_DB,
    AIRFLOW_PARTS,
    AIRFLOW_ROLE,
    COMPONENTS,
    DEFAULT_BUCKET,
    DEFAULT_EXECUTOR,
    DEFAULT_WORKERS,
    EXECUTORS,
    HOST,
    PARTS,
    PORT_ENV,
    REDIS_PART,
    REDSHIFT_PART,
    STOP_PHASES,
    WAREHOUSE_DB,
    WAREHOUSE_READ_ROLE,
    WAREHOUSE_ROLE,
    WAREHOUSES,
    PartStatus,
    StackError,
    _parse_time,
    choose_ports,
    dags_folder,
    default_state_dir,
    executor_env,
    executor_parts,
    expand_components,
    export_lines,
    render_env,
)
from sparkify.local.stack.postgres import SERVER_USER, PostgresCluster, PostgresError

if TYPE_CHECKING:
    from sparkify.control.api import ApiClient

__all__ = [
    "AIRFLOW_PARTS",
    "COMPONENTS",
    "PARTS",
    "PORT_ENV",
    "PartStatus",
    "Stack",
    "StackError",
    "choose_ports",
    "dags_folder",
    "default_state_dir",
    "expand_components",
    "export_lines",
    "render_env",
]


class Stack:
    """The local stack whose state lives in ``state_dir`` (default: ``default_state_dir()``).

    ``up(components)`` starts what is missing and waits until healthy (components:
    ``postgres``, ``s3``, ``airflow-db`` = a migrated metadata database, ``airflow`` = the
    four Airflow processes); ``down()`` stops it all by PID; ``status()`` reports each part;
    ``env()`` is the environment for Airflow, ``sparkify`` and boto3 (``init_config()``
    makes it available before anything starts); ``api_client()`` talks to ``/api/v2``
    as the generated ``admin`` user; ``warehouse_dsn()`` is a psycopg connection string.
    """

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
        for name, make in _SECRETS.items():
            cfg["secrets"].setdefault(name, make())
        self._save_config(cfg)
        return cfg

    _init_config = init_config  # the name tests/conftest.py used first

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
        shared_mode, group = _postgres_passage()
        for path in (self.state_dir, self.log_dir, self.run_dir, self.airflow_home):
            proc.private_dir(path)
            mode = shared_mode if path in (self.state_dir, self.log_dir) else 0o700
            if group is not None and mode != 0o700:
                os.chown(path, -1, group)
            os.chmod(path, mode)
        own = [self.state_dir / name for name in (*_OWN_FILES, *_OWN_DIRS)]
        for path in (*own, *self.log_dir.iterdir(), *self.run_dir.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                info = path.lstat()
                if (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)) and (
                    info.st_mode & 0o077
                ):
                    os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)

    def env(self) -> dict[str, str]:
        """The full environment mapping for ``airflow``, ``sparkify`` and boto3 users."""
        return render_env(self.config, state_dir=self.state_dir, dags=dags_folder())

    def _process_env(self) -> dict[str, str]:
        return {**os.environ, **self.env(), **self.extra_env, "PYTHONUNBUFFERED": "1"}

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

    # -- parts -----------------------------------------------------------------------------
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
        if part == "postgres":
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

    @property
    def executor(self) -> str:
        """``local`` or ``celery``: the executor of the last ``up`` (kept until ``down``)."""
        return (self._read_config() or {}).get("executor", DEFAULT_EXECUTOR)

    def worker_parts(self) -> tuple[str, ...]:
        """The Celery workers' part names, ``worker-1`` ..; none with the LocalExecutor."""
        return tuple(p for p in self.parts() if celery_parts.is_worker(p))

    # -- up -----------------------------------------------------------------------------------
    def up(
        self,
        components: Iterable[str] = COMPONENTS,
        *,
        executor: str | None = None,
        workers: int | None = None,
        timeout: float = 180.0,
        echo: Callable[[str], None] = lambda _msg: None,
        warehouse: str | None = None,
        paused_at_creation: bool = False,
    ) -> None:
        """Start what is not running (``components`` and what they need) and wait until
        all of it is healthy; a running, healthy part is left alone. ``executor`` is
        ``local`` or ``celery`` (with ``workers`` workers, default 2); None keeps the
        running stack's, else the LocalExecutor.

        ``warehouse`` (``postgres`` or ``redshift``; default: what the stack has, else
        ``postgres``) is kept in the state: ``redshift`` adds the Redshift rehearsal in front
        of PostgreSQL and points the ``warehouse`` connection at it.

        ``paused_at_creation``: the Airflow processes it starts create DAGs they parse for
        the first time paused (``sparkify demo`` on a new stack, which lands its data while
        Airflow starts and unpauses the live entry points only after its backfill).
        """
        wanted = expand_components(components)
        deadline = time.monotonic() + timeout
        if warehouse is not None and warehouse not in WAREHOUSES:
            raise StackError(f"Unknown warehouse {warehouse!r}; choose from {WAREHOUSES}")
        with self._lock():
            cfg = self.init_config()
            cfg["components"] = [c for c in COMPONENTS if c in {*cfg["components"], *wanted}]
            if warehouse is not None and warehouse != cfg.get("warehouse", "postgres"):
                running = [p for p in (*AIRFLOW_PARTS, REDSHIFT_PART) if self.pid(p)]
                if running:
                    raise StackError(
                        f"The stack runs with the {cfg.get('warehouse', 'postgres')} warehouse "
                        f"({', '.join(running)} running): `sparkify stack down` first"
                    )
                cfg["warehouse"] = warehouse
            self._choose_executor(cfg, executor, workers)
            self._save_config(cfg)
            self._check_ports(wanted, cfg)
            if "s3" in wanted:
                self._ensure_process("s3", cfg, echo)
            if "postgres" in wanted:
                self._up_postgres(cfg, deadline, echo)
            if "s3" in wanted:
                self._up_bucket(cfg, deadline, echo)
            if cfg.get("warehouse") == "redshift" and "postgres" in wanted:
                self._up_redshift(cfg, deadline, echo)
            if "airflow-db" in wanted:
                self._migrate(cfg, deadline, echo)
            if "airflow" in wanted:
                self._write_passwords_file(cfg)
                if REDIS_PART in executor_parts(cfg):
                    self._up_redis(cfg, deadline, echo)
                for part in (*AIRFLOW_PARTS, *self.worker_parts()):
                    self._ensure_process(part, cfg, echo, paused_at_creation=paused_at_creation)
                self._wait_airflow(deadline, timeout, echo)
                self._wait_workers(cfg, deadline, timeout, echo)
                from sparkify.control.pools import ensure_pools

                with self.api_client() as client:
                    for name in ensure_pools(client):
                        echo(f"airflow: pool {name} created or given its slots")

    def _choose_executor(
        self, cfg: dict[str, Any], executor: str | None, workers: int | None
    ) -> None:
        """Record the executor and worker count in ``cfg``; refuse to change them under
        running Airflow processes, which took theirs when they started."""
        if executor is not None and executor not in EXECUTORS:
            raise StackError(f"Unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
        if workers is not None and workers < 1:
            raise StackError("--workers must be at least 1")
        running = sorted(p for p in (*AIRFLOW_PARTS, *self.parts(cfg)) if self.pid(p))
        was = (cfg.get("executor", DEFAULT_EXECUTOR), cfg.get("workers"))
        if executor is None:
            executor = was[0] if running else DEFAULT_EXECUTOR
        if executor != "celery" and workers is not None:
            raise StackError("--workers needs --executor celery")
        if executor == "celery" and workers is None:
            workers = was[1] if running and was[0] == "celery" else DEFAULT_WORKERS
        if running and (executor, workers) != was:
            raise StackError(
                f"The stack runs the {was[0]} executor"
                f"{f' with {was[1]} workers' if was[1] else ''} ({', '.join(running)}): "
                "`sparkify stack down` first"
            )
        cfg["executor"] = executor
        if workers is None:
            cfg.pop("workers", None)
        else:
            cfg["workers"] = workers

    def _up_redis(self, cfg: dict[str, Any], deadline: float, echo) -> None:
        celery_parts.write_redis_config(cfg, self.state_dir / "redis")
        self._ensure_process(REDIS_PART, cfg, echo)
        while not celery_parts.redis_healthy(cfg)[0]:
            self._check_alive(REDIS_PART)
            if time.monotonic() > deadline:
                raise self._fail(REDIS_PART, "does not answer PING")
            time.sleep(0.1)

    def _wait_workers(self, cfg: dict[str, Any], deadline: float, timeout: float, echo) -> None:
        parts = list(self.worker_parts())
        if not parts:
            return
        broker = executor_env(cfg)["AIRFLOW__CELERY__BROKER_URL"]
        while missing := sorted(set(parts) - celery_parts.ping_workers(broker, parts)):
            for part in missing:
                self._check_alive(part)
            if time.monotonic() > deadline:
                raise self._fail(missing[0], f"does not answer a ping after {timeout:.0f}s")
            time.sleep(0.5)
        echo(f"celery: {len(parts)} worker(s) answering")

    def _check_ports(self, wanted: list[str], cfg: dict[str, Any]) -> None:
        """Fail before starting anything if a part to start would find its port taken."""
        parts = [p for c in wanted for p in _PARTS_OF[c]]
        if "airflow" in wanted:
            parts += executor_parts(cfg)
        for part in (p for p in parts if p in _PORT_OF):
            port = cfg["ports"][_PORT_OF[part]]
            if self.pid(part) is None and not proc.port_is_free(port, HOST):
                raise StackError(
                    f"{part}: port {port} on {HOST} is taken by another program; "
                    f"set {PORT_ENV[_PORT_OF[part]]} to a free port"
                )

    def _ensure_process(
        self,
        part: str,
        cfg: dict[str, Any],
        echo: Callable[[str], None],
        *,
        paused_at_creation: bool = False,  # for an Airflow part: DAGs it creates start paused
    ) -> None:
        if (pid := self.pid(part)) is not None:
            echo(f"{part}: already running (pid {pid})")
            return
        self._reap_leftovers(part)
        port = cfg["ports"].get(_PORT_OF.get(part, ""), None)
        env = self._process_env()
        if part == REDSHIFT_PART:
            cmd = [
                sys.executable, "-m", "sparkify.local.redshift.server", "--host", HOST,
                "--port", str(port), "--backend-port", str(cfg["ports"]["postgres"]),
            ]  # fmt: skip
            # The password travels in the environment, never on a command line.
            env["SPARKIFY_REDSHIFT_PASSWORD"] = cfg["secrets"]["warehouse_password"]
            env["SPARKIFY_REDSHIFT_USERS"] = json.dumps(
                {WAREHOUSE_READ_ROLE: cfg["secrets"]["warehouse_read_password"]}
            )
        elif part == "s3":
            cmd = [sys.executable, "-m", "sparkify.local.stack.moto_server"]
            cmd += ["--host", HOST, "--port", str(port)]
        elif part == REDIS_PART:
            cmd = celery_parts.redis_command(self.state_dir / "redis" / "redis.conf")
        elif celery_parts.is_worker(part):
            cmd = celery_parts.worker_command(part)
            env |= celery_parts.worker_env(part)
        else:
            cmd = [sys.executable, "-m", "airflow", *_AIRFLOW_ARGS[part]]
            if part == "api-server":
                cmd += ["--port", str(port)]
        if paused_at_creation and part in (*AIRFLOW_PARTS, *self.worker_parts()):
            env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
        proc.private_dir(self.airflow_home)
        child = proc.spawn(part, cmd, env=env, log_path=self.log_path(part), cwd=self.state_dir)
        self._children[part] = child
        proc.write_pid(self._pid_path(part), child.pid)
        echo(f"{part}: started (pid {child.pid}{f', port {port}' if port else ''})")

    def _reap_leftovers(self, part: str) -> None:
        """A dead part's orphans (e.g. task supervisors) go before it is started again."""
        pid_path = self._pid_path(part)
        if part != "postgres" and (old := proc.owned_session(pid_path)) is not None:
            proc.terminate_sessions([old], timeout=5)
        pid_path.unlink(missing_ok=True)

    def _fail(self, part: str, why: str) -> StackError:
        log = self.log_path(part)
        return StackError(f"{part} {why}; see {log}\n{proc.tail(log)}".rstrip())

    def _check_alive(self, part: str) -> None:
        if self.pid(part) is None:
            raise self._fail(part, f"exited ({proc.why_not_running(self._pid_path(part))})")

    def _up_redshift(self, cfg: dict[str, Any], deadline: float, echo) -> None:
        """Start the Redshift rehearsal and wait until it accepts connections."""
        self._ensure_process(REDSHIFT_PART, cfg, echo)
        while not self._redshift_answers(cfg):
            self._check_alive(REDSHIFT_PART)
            if time.monotonic() > deadline:
                raise self._fail(REDSHIFT_PART, "does not accept connections")
            time.sleep(0.2)

    def _redshift_answers(self, cfg: dict[str, Any]) -> bool:
        import socket

        try:
            with socket.create_connection((HOST, cfg["ports"]["redshift"]), timeout=1):
                return True
        except OSError:
            return False

    def _up_postgres(self, cfg: dict[str, Any], deadline: float, echo) -> None:
        cluster = self._postgres(cfg)
        cluster.init()
        if (pid := self.pid("postgres")) is not None:
            echo(f"postgres: already running (pid {pid})")
        else:
            postmaster = cluster.postmaster_pid()
            if postmaster is not None and proc.is_running(postmaster):
                # Our data directory's server without its pid file (e.g. the file was deleted).
                proc.write_pid(self._pid_path("postgres"), postmaster)
                echo(f"postgres: adopted running server (pid {postmaster})")
                return self._up_postgres(cfg, deadline, echo)
            port = cfg["ports"]["postgres"]
            pid = cluster.start()
            proc.write_pid(self._pid_path("postgres"), pid)
            echo(f"postgres: started (pid {pid}, port {port})")
        sec = cfg["secrets"]
        cluster.ensure_database(
            WAREHOUSE_DB, owner=WAREHOUSE_ROLE, password=sec["warehouse_password"]
        )
        cluster.ensure_reader(
            WAREHOUSE_DB,
            owner=WAREHOUSE_ROLE,
            reader=WAREHOUSE_READ_ROLE,
            password=sec["warehouse_read_password"],
        )
        cluster.ensure_database(AIRFLOW_DB, owner=AIRFLOW_ROLE, password=sec["airflow_db_password"])
        while not self._postgres_healthy(cfg)[0]:
            self._check_alive("postgres")
            if time.monotonic() > deadline:
                raise self._fail("postgres", "does not accept connections")
            time.sleep(0.2)

    def restart_postgres(self, timeout: float = 60.0) -> int:
        """Restart the PostgreSQL server (fast shutdown ends every session), as an outage
        would; returns the new postmaster PID. For fault tests and operators."""
        cfg = self.config
        cluster = self._postgres(cfg)
        cluster.stop()
        pid = cluster.start()
        proc.write_pid(self._pid_path("postgres"), pid)
        deadline = time.monotonic() + timeout
        while not self._postgres_healthy(cfg)[0]:
            if time.monotonic() > deadline:
                raise self._fail("postgres", "does not accept connections after a restart")
            time.sleep(0.2)
        return pid

    def _postgres_healthy(
        self, cfg: dict[str, Any], dbname: str = WAREHOUSE_DB
    ) -> tuple[bool, str]:
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

    def _s3_answer(self, cfg: dict[str, Any], path: str = "") -> int | None:
        """HTTP status of ``HEAD <s3>/<path>``, None if nothing answers."""
        url = f"http://{HOST}:{cfg['ports']['s3']}/{path}"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=2):
                return 200
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def _up_bucket(self, cfg: dict[str, Any], deadline: float, echo) -> None:
        while self._s3_answer(cfg) is None:
            self._check_alive("s3")
            if time.monotonic() > deadline:
                raise self._fail("s3", "does not answer")
            time.sleep(0.1)
        endpoint = f"http://{HOST}:{cfg['ports']['s3']}"
        if self._s3_answer(cfg, cfg["bucket"]) != 200:
            s3, _sqs = notifications.clients(endpoint)
            s3.create_bucket(Bucket=cfg["bucket"])
            echo(f"s3: created bucket {cfg['bucket']}")
        url, configured = notifications.ensure(endpoint, cfg["bucket"])
        if configured:
            echo(f"s3: bucket {cfg['bucket']} notifies the SQS queue {url}")

    def _migrate(self, cfg: dict[str, Any], deadline: float, echo) -> None:
        """``airflow db migrate``, once per installed Airflow version; a fresh metadata
        database is restored from the template instead, once there is one (``template``)."""
        from importlib.metadata import version

        airflow_version = version("apache-airflow")
        ready = self._airflow_db_ready(cfg)
        if cfg.get("airflow_migrated") == airflow_version and ready:
            return
        cluster = self._postgres(cfg)
        template = metadata_template.template_path(cluster.major)
        if not ready and self._restore_template(cluster, template, echo):
            cfg["airflow_migrated"] = airflow_version
            self._save_config(cfg)
            return
        echo("airflow: migrating the metadata database")
        log = self.log_path("airflow-db-migrate")
        proc.private_dir(self.log_dir)
        proc.private_dir(self.airflow_home)
        with os.fdopen(proc.open_private(log, os.O_WRONLY | os.O_APPEND), "ab") as fh:
            try:
                result = subprocess.run(
                    [sys.executable, "-m", "airflow", "db", "migrate"],
                    env=self._process_env(),
                    cwd=self.state_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    timeout=max(deadline - time.monotonic(), 120),
                    check=False,
                    umask=proc.PRIVATE_UMASK,
                )
            except subprocess.TimeoutExpired:
                raise self._fail("airflow-db-migrate", "timed out") from None
        if result.returncode != 0:
            raise self._fail("airflow-db-migrate", f"failed (exit {result.returncode})")
        cfg["airflow_migrated"] = airflow_version
        self._save_config(cfg)
        if not ready:  # migrated from nothing: what every later fresh stack restores
            try:
                metadata_template.save(template, cluster.dump_database(AIRFLOW_DB))
            except (PostgresError, OSError) as exc:
                echo(f"airflow: no metadata template kept ({str(exc).splitlines()[0]})")
            else:
                echo(f"airflow: metadata template kept in {template}")

    def _restore_template(self, cluster: PostgresCluster, template: Path, echo) -> bool:
        """Restore the metadata template into the empty metadata database, if there is one
        and it restores; a template that fails leaves the database empty, to be migrated."""
        try:
            dump = template.read_bytes()
        except FileNotFoundError:
            return False
        started = time.monotonic()
        try:
            cluster.restore_database(AIRFLOW_DB, dump, owner=AIRFLOW_ROLE)
        except PostgresError as exc:
            echo(f"airflow: the metadata template {template} did not restore "
                 f"({str(exc).splitlines()[0]}); migrating instead")  # fmt: skip
            return False
        echo(f"airflow: metadata database from the template in {time.monotonic() - started:.1f}s")
        return True

    def airflow_is_new(self) -> bool:
        """Whether Airflow's metadata database is still to be made (no DAG known yet)."""
        cfg = self._read_config()
        return cfg is None or not cfg.get("airflow_migrated")

    def _airflow_db_ready(self, cfg: dict[str, Any]) -> bool:
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

    def _write_passwords_file(self, cfg: dict[str, Any]) -> None:
        """The SimpleAuthManager's passwords file, so it uses our password, not its own."""
        path = self.airflow_home / "passwords.json"
        proc.private_dir(self.airflow_home)
        with os.fdopen(proc.open_private(path), "w") as fh:
            json.dump({ADMIN_USER: cfg["secrets"]["admin_password"]}, fh)

    def _wait_airflow(self, deadline: float, timeout: float, echo) -> None:
        while True:
            for part in AIRFLOW_PARTS:
                self._check_alive(part)
            health = self._airflow_health()
            unhealthy = [(p, d) for p, (ok, d) in health.items() if not ok]
            if not unhealthy:
                echo("airflow: healthy")
                return
            if time.monotonic() > deadline:
                part, detail = unhealthy[0]
                raise self._fail(part, f"is not healthy after {timeout:.0f}s ({detail})")
            time.sleep(0.5)

    def _airflow_health(self) -> dict[str, tuple[bool, str]]:
        """(healthy, detail) per Airflow part, from ``GET /api/v2/monitor/health``."""
        try:
            # Generous: on a loaded two-core machine the API server can take seconds to answer.
            url = f"{self.api_url}/api/v2/monitor/health"
            with urllib.request.urlopen(url, timeout=15) as r:
                health = json.load(r)
        except (OSError, ValueError) as exc:
            down = (False, "API server not answering")
            return {"api-server": (False, f"not answering: {exc}")} | dict.fromkeys(
                _HEALTH_KEY, down
            )
        db_ok = (health.get("metadatabase") or {}).get("status") == "healthy"
        result = {"api-server": (db_ok, "answering" if db_ok else "metadatabase unhealthy")}
        for part, key in _HEALTH_KEY.items():
            info = health.get(key) or {}
            beat = _parse_time(info.get(f"latest_{key}_heartbeat"))
            started = self._started_at(part)
            # After a restart the previous job's heartbeat may still look fresh.
            fresh = beat is not None and started is not None and beat >= started - 2
            ok = info.get("status") == "healthy" and fresh
            result[part] = (ok, "heartbeat ok" if ok else f"status {info.get('status')}")
        return result

    def _started_at(self, part: str) -> float | None:
        import psutil

        pid = self.pid(part)
        try:
            return psutil.Process(pid).create_time() if pid else None
        except psutil.Error:
            return None

    # -- status --------------------------------------------------------------------------------
    def status(self) -> dict[str, PartStatus]:
        """Each part's PID, port and health."""
        cfg = self._read_config()
        wanted = set()
        for component in (cfg or {}).get("components", []):
            wanted |= set(_PARTS_OF[component])
            if component == "airflow":
                wanted |= set(executor_parts(cfg))
        if (cfg or {}).get("warehouse") == "redshift" and "postgres" in wanted:
            wanted.add(REDSHIFT_PART)
        airflow = self._airflow_health() if cfg and self.pid("api-server") else {}
        workers = [p for p in self.parts(cfg) if celery_parts.is_worker(p) and self.pid(p)]
        answering = set()
        if workers and self.pid(REDIS_PART):
            broker = executor_env(cfg)["AIRFLOW__CELERY__BROKER_URL"]
            answering = celery_parts.ping_workers(broker, workers)
        result: dict[str, PartStatus] = {}
        for part in self.parts(cfg):
            pid = self.pid(part)
            port = cfg["ports"].get(_PORT_OF.get(part, "")) if cfg else None
            if cfg is None or pid is None:
                ok, detail = False, "not running"
            elif part == "postgres":
                ok, detail = self._postgres_healthy(cfg)
            elif part == REDSHIFT_PART:
                ok = self._redshift_answers(cfg)
                detail = "accepting connections" if ok else "not accepting connections"
            elif part == "s3":
                code = self._s3_answer(cfg, cfg["bucket"])
                ok, detail = code == 200, f"bucket {cfg['bucket']}: HTTP {code}"
            elif part == REDIS_PART:
                ok, detail = celery_parts.redis_healthy(cfg)
            elif celery_parts.is_worker(part):
                ok = part in answering
                name = celery_parts.celery_hostname(part)
                detail = f"{name}: {'answers' if ok else 'does not answer'} a ping"
            else:
                ok, detail = airflow.get(part, (False, "API server not running"))
            state = "healthy" if ok else ("unhealthy" if pid else "stopped")
            result[part] = PartStatus(
                pid=pid, port=port, healthy=ok, wanted=part in wanted, state=state,
                detail=detail, log=str(self.log_path(part)),
            )  # fmt: skip
        return result

    # -- down ----------------------------------------------------------------------------------
    def down(
        self,
        *,
        purge: bool = False,
        timeout: float = 30.0,
        echo: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        """Stop every process the stack started, by PID; ``purge`` deletes the state dir."""
        if not self.state_dir.exists():
            return
        if not self.config_path.exists() and not self.run_dir.exists():
            if purge:
                self._purge()  # refuses: nothing here says it is a stack's
            return
        with self._lock():
            survivors = []
            all_parts = self.parts()
            for phase in self._stop_phases(all_parts):
                sids, whole = [], []
                for part in phase:
                    if (pid := proc.owned_session(self._pid_path(part))) is not None:
                        echo(f"{part}: stopping (pid {pid})")
                        sids.append(pid)
                        if part in _STOP_WHOLE_SESSION or celery_parts.is_worker(part):
                            whole.append(pid)
                survivors += proc.terminate_sessions(sids, timeout=timeout, whole=whole)
            survivors += self._down_postgres(timeout, echo)
            for child in self._children.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=1)  # reap, so no zombie is left in this process
            self._children.clear()
            if survivors:
                pids = ", ".join(str(p.pid) for p in survivors)
                raise StackError(f"Processes would not stop: {pids}")
            for part in all_parts:
                self._pid_path(part).unlink(missing_ok=True)
            if (cfg := self._read_config()) is not None:
                cfg["components"] = []
                cfg.pop("executor", None)  # the next ``up`` starts with the default again
                cfg.pop("workers", None)
                self._save_config(cfg)
        if purge:
            self._purge()

    @staticmethod
    def _stop_phases(parts: Iterable[str]) -> list[tuple[str, ...]]:
        """``STOP_PHASES`` with the executor's parts: the Celery workers right after the
        scheduler (their tasks report through the API server), Redis with the last phase."""
        phases = [tuple(phase) for phase in STOP_PHASES]
        workers = tuple(p for p in parts if celery_parts.is_worker(p))
        if workers:
            phases.insert(1, workers)
        if REDIS_PART in parts:
            phases[-1] = (*phases[-1], REDIS_PART)
        return phases

    def _down_postgres(self, timeout: float, echo) -> list:
        cfg = self._read_config() or {"ports": {"postgres": 0}}
        cluster = self._postgres(cfg)
        pid = self.pid("postgres") or cluster.postmaster_pid()
        if pid is None or not proc.is_running(pid):
            return []
        echo(f"postgres: stopping (pid {pid})")
        tree = proc.process_tree(pid)
        try:
            cluster.stop()
        except CliError as exc:
            echo(f"postgres: pg_ctl stop failed ({exc}); terminating pid {pid}")
            import signal

            os.kill(pid, signal.SIGINT)  # what pg_ctl -m fast sends
        return proc.wait_gone(tree, timeout)

    def _purge(self) -> None:
        known = {
            "stack.json", "stack.lock", "logs", "run", "pg", "airflow", "demo-data", "redis",
            "report.html",  # the demo's partition health report (sparkify.local.demo)
        }  # fmt: skip
        contents = {p.name for p in self.state_dir.iterdir()}
        if "stack.json" not in contents or not contents <= known:
            raise StackError(
                f"Not purging {self.state_dir}: it does not look like a stack state directory"
            )
        socket_dir = self._postgres({"ports": {"postgres": 0}}).socket_dir
        if not socket_dir.is_relative_to(self.state_dir):
            shutil.rmtree(socket_dir, ignore_errors=True)  # the short fallback under /tmp
        shutil.rmtree(self.state_dir)

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


# What the stack (and the demo) keep in the state directory besides logs, run and airflow.
_OWN_FILES = ("stack.json", "stack.tmp", "stack.lock", "report.html")
_OWN_DIRS = ("redis", "demo-data")


def _postgres_passage() -> tuple[int, int | None]:
    """The mode of the state directory and ``logs``, and the group to give them: 0700 and
    none, or, as root with a ``postgres`` user (PostgreSQL then runs as that user and must
    pass through them), 0710 and that user's group."""
    if os.geteuid() != 0:
        return 0o700, None
    try:
        return 0o710, pwd.getpwnam(SERVER_USER).pw_gid
    except KeyError:
        return 0o700, None
