"""``Stack.up``: start what is not running, in order, and wait until it is healthy.

PostgreSQL first (its databases and roles made), the S3 endpoint and its bucket, the
Redshift rehearsal where the warehouse is redshift, Airflow's metadata database
(``sparkify.local.stack.metadata``), then Airflow's processes, with the CeleryExecutor
Redis before them and the workers after, and Airflow's pools. What each part runs:
``sparkify.local.stack.parts``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sparkify.local.stack import notifications
from sparkify.local.stack import parts as stack_parts
from sparkify.local.stack import process as proc
from sparkify.local.stack import workers as celery_parts
from sparkify.local.stack.config import (
    ADMIN_USER,
    AIRFLOW_DB,
    AIRFLOW_PARTS,
    AIRFLOW_ROLE,
    COMPONENTS,
    DEFAULT_EXECUTOR,
    DEFAULT_WORKERS,
    EXECUTORS,
    HOST,
    PORT_ENV,
    REDIS_PART,
    REDSHIFT_PART,
    WAREHOUSE_DB,
    WAREHOUSE_READ_ROLE,
    WAREHOUSE_ROLE,
    WAREHOUSES,
    StackError,
    executor_env,
    executor_parts,
    expand_components,
)
from sparkify.local.stack.metadata import MetadataDatabase
from sparkify.local.stack.probes import (
    airflow_health,
    postgres_healthy,
    redshift_answers,
    s3_answer,
)
from sparkify.local.stack.zygote_part import Zygote

if TYPE_CHECKING:
    from sparkify.pipeline.settings import Settings

Echo = Callable[[str], None]


class BringUp(MetadataDatabase):
    """``up`` and ``restart_postgres`` of ``Stack``."""

    def up(
        self,
        components: Iterable[str] = COMPONENTS,
        *,
        executor: str | None = None,
        workers: int | None = None,
        timeout: float = 180.0,
        echo: Echo = lambda _msg: None,
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
            configured = None
            if "s3" in wanted:
                # Where the bucket's data is; a malformed SPARKIFY_* fails before anything starts.
                configured = self.pipeline_settings()
                self._ensure_process("s3", cfg, echo)
            zygote = None
            if "airflow" in wanted:
                # Airflow imports itself while PostgreSQL and the metadata database are made.
                zygote = self._start_zygote(cfg, timeout, echo, paused_at_creation)
            try:
                if "postgres" in wanted:
                    self._up_postgres(cfg, deadline, echo)
                if configured is not None:
                    self._up_bucket(cfg, deadline, echo, configured)
                if cfg.get("warehouse") == "redshift" and "postgres" in wanted:
                    self._up_redshift(cfg, deadline, echo)
                if "airflow-db" in wanted:
                    self._migrate(cfg, deadline, echo)
                if "airflow" in wanted and REDIS_PART in executor_parts(cfg):
                    self._up_redis(cfg, deadline, echo)
            except BaseException:
                if zygote is not None:
                    zygote.stop()
                raise
            if "airflow" in wanted:
                if zygote is not None:
                    zygote.release(deadline, echo)
                for part in self.worker_parts():
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

    def _check_ports(self, wanted: list[str], cfg: dict[str, Any]) -> None:
        """Fail before starting anything if a part to start would find its port taken."""
        names = [p for c in wanted for p in stack_parts.parts_of(c)]
        if "airflow" in wanted:
            names += executor_parts(cfg)
        for part in map(stack_parts.part, names):
            if part.port is None:
                continue
            port = cfg["ports"][part.port]
            if self.pid(part.name) is None and not proc.port_is_free(port, HOST):
                raise StackError(
                    f"{part.name}: port {port} on {HOST} is taken by another program; "
                    f"set {PORT_ENV[part.port]} to a free port"
                )

    def _ensure_process(
        self,
        name: str,
        cfg: dict[str, Any],
        echo: Echo,
        *,
        paused_at_creation: bool = False,  # for an Airflow part: DAGs it creates start paused
    ) -> None:
        """Start the part ``name`` as its ``Part`` says, unless it runs."""
        if (pid := self.pid(name)) is not None:
            echo(f"{name}: already running (pid {pid})")
            return
        part = stack_parts.part(name)
        if part.command is None:
            raise StackError(f"{name} is not started as a process of its own")
        self._reap_leftovers(name)
        port = cfg["ports"].get(part.port) if part.port else None
        env = {**self._process_env(), **part.env(cfg)}
        cmd = part.command(cfg, self.state_dir)
        if paused_at_creation and part.runs_airflow:
            env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
        proc.private_dir(self.airflow_home)
        child = proc.spawn(name, cmd, env=env, log_path=self.log_path(name), cwd=self.state_dir)
        self._children[name] = child
        proc.write_pid(self._pid_path(name), child.pid)
        echo(f"{name}: started (pid {child.pid}{f', port {port}' if port else ''})")

    def _reap_leftovers(self, name: str) -> None:
        """A dead part's orphans (e.g. task supervisors) go before it is started again."""
        pid_path = self._pid_path(name)
        if (old := proc.owned_session(pid_path)) is not None:
            proc.terminate_sessions([old], timeout=5)
        pid_path.unlink(missing_ok=True)

    def _wait_for(
        self, part: str, healthy: Callable[[], bool], deadline: float, why: str, every: float
    ) -> None:
        """Poll ``healthy`` every ``every`` seconds until it holds; fail if ``part`` exits
        or the deadline passes (``why``: what the error says it does not do)."""
        while not healthy():
            self._check_alive(part)
            if time.monotonic() > deadline:
                raise self._fail(part, why)
            time.sleep(every)

    # -- each part's start and wait ------------------------------------------------------------
    def _up_postgres(self, cfg: dict[str, Any], deadline: float, echo: Echo) -> None:
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
        healthy = lambda: postgres_healthy(cfg)[0]  # noqa: E731
        self._wait_for("postgres", healthy, deadline, "does not accept connections", 0.2)

    def restart_postgres(self, timeout: float = 60.0) -> int:
        """Restart the PostgreSQL server (fast shutdown ends every session), as an outage
        would; returns the new postmaster PID. For fault tests and operators."""
        cfg = self.config
        cluster = self._postgres(cfg)
        cluster.stop()
        pid = cluster.start()
        proc.write_pid(self._pid_path("postgres"), pid)
        deadline = time.monotonic() + timeout
        while not postgres_healthy(cfg)[0]:
            if time.monotonic() > deadline:
                raise self._fail("postgres", "does not accept connections after a restart")
            time.sleep(0.2)
        return pid

    def _up_bucket(
        self, cfg: dict[str, Any], deadline: float, echo: Echo, configured: Settings
    ) -> None:
        self._wait_for("s3", lambda: s3_answer(cfg) is not None, deadline, "does not answer", 0.1)
        endpoint = f"http://{HOST}:{cfg['ports']['s3']}"
        if s3_answer(cfg, cfg["bucket"]) != 200:
            s3, _sqs = notifications.clients(endpoint)
            s3.create_bucket(Bucket=cfg["bucket"])
            echo(f"s3: created bucket {cfg['bucket']}")
        prefixes = notifications.data_prefixes(configured)
        url, configured = notifications.ensure(endpoint, cfg["bucket"], prefixes=prefixes)
        if configured:
            echo(f"s3: bucket {cfg['bucket']} notifies the SQS queue {url}")

    def _up_redshift(self, cfg: dict[str, Any], deadline: float, echo: Echo) -> None:
        """Start the Redshift rehearsal and wait until it accepts connections."""
        self._ensure_process(REDSHIFT_PART, cfg, echo)
        healthy = lambda: redshift_answers(cfg)  # noqa: E731
        self._wait_for(REDSHIFT_PART, healthy, deadline, "does not accept connections", 0.2)

    def _up_redis(self, cfg: dict[str, Any], deadline: float, echo: Echo) -> None:
        celery_parts.write_redis_config(cfg, self.state_dir / "redis")
        self._ensure_process(REDIS_PART, cfg, echo)
        healthy = lambda: celery_parts.redis_healthy(cfg)[0]  # noqa: E731
        self._wait_for(REDIS_PART, healthy, deadline, "does not answer PING", 0.1)

    def _start_zygote(
        self, cfg: dict[str, Any], timeout: float, echo: Echo, paused_at_creation: bool
    ) -> Zygote | None:
        """Start the zygote for the Airflow parts not running (None if all run); they are
        forked when ``release`` says the metadata database is ready."""
        names = []
        for name in AIRFLOW_PARTS:
            if (pid := self.pid(name)) is not None:
                echo(f"{name}: already running (pid {pid})")
            else:
                names.append(name)
        if not names:
            return None
        self._write_passwords_file(cfg)
        for name in names:
            self._reap_leftovers(name)
        env = self._process_env()
        if paused_at_creation:
            env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
        return Zygote.start(self, cfg, names, env=env, timeout=timeout)

    def _write_passwords_file(self, cfg: dict[str, Any]) -> None:
        """The SimpleAuthManager's passwords file, so it uses our password, not its own."""
        path = self.airflow_home / "passwords.json"
        proc.private_dir(self.airflow_home)
        with os.fdopen(proc.open_private(path), "w") as fh:
            json.dump({ADMIN_USER: cfg["secrets"]["admin_password"]}, fh)

    def _wait_airflow(self, deadline: float, timeout: float, echo: Echo) -> None:
        while True:
            for part in AIRFLOW_PARTS:
                self._check_alive(part)
            health = airflow_health(self.api_url, stack_parts.HEARTBEATS, self.pid)
            unhealthy = [(p, d) for p, (ok, d) in health.items() if not ok]
            if not unhealthy:
                echo("airflow: healthy")
                return
            if time.monotonic() > deadline:
                part, detail = unhealthy[0]
                raise self._fail(part, f"is not healthy after {timeout:.0f}s ({detail})")
            time.sleep(0.5)

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
