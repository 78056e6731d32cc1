"""The local stack's parts as data: what each runs, where it listens, how its health is
probed and when it stops.

A ``Part`` says everything the stack does differently per part; ``Stack`` itself only
walks them. Parts: ``postgres`` (started and stopped by ``pg_ctl``, not as a session of its
own), ``s3`` (moto), the four Airflow processes, the Redshift rehearsal (``redshift``,
with ``--warehouse redshift``) and, with the CeleryExecutor, ``redis`` and the workers
``worker-1`` .. ``worker-N`` (``part()`` makes those on demand).

``down`` stops them phase by phase, each phase waited for (``stop_phases``). Task
processes report their final state through the API server, so it goes after the scheduler
and the Celery workers: stopped first, it leaves running tasks retrying against nothing and
the scheduler waiting for them. The Redshift rehearsal goes before the storage it fronts,
PostgreSQL last of all.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sparkify.local.stack import probes
from sparkify.local.stack import workers as celery_parts
from sparkify.local.stack.config import (
    ALL_PARTS,
    HOST,
    REDIS_PART,
    REDSHIFT_PART,
    WAREHOUSE_READ_ROLE,
    StackError,
    executor_env,
)

# (cfg, state directory) -> the command line that starts a part.
Command = Callable[[dict[str, Any], Path], list[str]]
# What a part adds to the stack's environment, from the config.
Environment = Callable[[dict[str, Any]], dict[str, str]]


def _nothing(_cfg: dict[str, Any]) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Part:
    """One part of the stack.

    ``command``: its command line (None: PostgreSQL, which ``pg_ctl`` starts and stops);
    ``env``: what it adds to the stack's environment (secrets travel here, never on a
    command line); ``port``: its key in the config's ``ports``, if it listens;
    ``probe``: its health for ``status`` (``Survey``: one status call's shared answers);
    ``stop_phase``: when ``down`` stops it, lowest first; ``whole_session``: ``down``
    signals every process of its session at once, not its leader first; ``component``:
    the component of ``up`` that starts it (None: the config does, by its warehouse or
    executor); ``runs_airflow``: an Airflow process, which takes ``paused_at_creation``.
    """

    name: str
    command: Command | None
    probe: Callable[[Survey, str], probes.Health]
    stop_phase: int
    port: str | None = None
    env: Environment = _nothing
    whole_session: bool = False
    component: str | None = None
    runs_airflow: bool = False
    heartbeat: str | None = None  # its key in Airflow's /api/v2/monitor/health

    @property
    def own_session(self) -> bool:
        """Started by the stack as the leader of a session (everything but PostgreSQL)."""
        return self.command is not None


class Survey:
    """One ``status`` call's look at the stack: what several parts share (Airflow's health
    endpoint, the Celery workers' ping) is asked once, when a part first needs it."""

    def __init__(
        self, cfg: dict[str, Any], names: Iterable[str], pid: Callable[[str], int | None]
    ) -> None:
        self.cfg = cfg
        self.names = tuple(names)
        self.pid = pid

    @cached_property
    def airflow(self) -> dict[str, probes.Health]:
        if not self.pid("api-server"):
            return {}
        api_url = f"http://{HOST}:{self.cfg['ports']['api']}"
        return probes.airflow_health(api_url, HEARTBEATS, self.pid)

    @cached_property
    def answering_workers(self) -> set[str]:
        workers = [p for p in self.names if celery_parts.is_worker(p) and self.pid(p)]
        if not workers or not self.pid(REDIS_PART):
            return set()
        broker = executor_env(self.cfg)["AIRFLOW__CELERY__BROKER_URL"]
        return celery_parts.ping_workers(broker, workers)


# -- probes ----------------------------------------------------------------------------------
def _postgres_probe(survey: Survey, _name: str) -> probes.Health:
    return probes.postgres_healthy(survey.cfg)


def _s3_probe(survey: Survey, _name: str) -> probes.Health:
    bucket = survey.cfg["bucket"]
    code = probes.s3_answer(survey.cfg, bucket)
    return code == 200, f"bucket {bucket}: HTTP {code}"


def _redshift_probe(survey: Survey, _name: str) -> probes.Health:
    ok = probes.redshift_answers(survey.cfg)
    return ok, "accepting connections" if ok else "not accepting connections"


def _redis_probe(survey: Survey, _name: str) -> probes.Health:
    return celery_parts.redis_healthy(survey.cfg)


def _airflow_probe(survey: Survey, name: str) -> probes.Health:
    return survey.airflow.get(name, (False, "API server not running"))


def _worker_probe(survey: Survey, name: str) -> probes.Health:
    ok = name in survey.answering_workers
    answer = "answers" if ok else "does not answer"
    return ok, f"{celery_parts.celery_hostname(name)}: {answer} a ping"


# -- commands --------------------------------------------------------------------------------
def _moto(cfg: dict[str, Any], _state_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", "sparkify.local.stack.moto_server"]
    return [*cmd, "--host", HOST, "--port", str(cfg["ports"]["s3"])]


def _rehearsal(cfg: dict[str, Any], _state_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "sparkify.local.redshift.server", "--host", HOST,
        "--port", str(cfg["ports"]["redshift"]), "--backend-port", str(cfg["ports"]["postgres"]),
    ]  # fmt: skip


def _rehearsal_env(cfg: dict[str, Any]) -> dict[str, str]:
    return {
        "SPARKIFY_REDSHIFT_PASSWORD": cfg["secrets"]["warehouse_password"],
        "SPARKIFY_REDSHIFT_USERS": json.dumps(
            {WAREHOUSE_READ_ROLE: cfg["secrets"]["warehouse_read_password"]}
        ),
    }


def _redis(_cfg: dict[str, Any], state_dir: Path) -> list[str]:
    return celery_parts.redis_command(state_dir / "redis" / "redis.conf")


def _airflow(*args: str, port: bool = False) -> Command:
    def command(cfg: dict[str, Any], _state_dir: Path) -> list[str]:
        extra = ["--port", str(cfg["ports"]["api"])] if port else []
        return [sys.executable, "-m", "airflow", *args, *extra]

    return command


def _airflow_part(name: str, command: Command, stop_phase: int, **kwargs: Any) -> Part:
    return Part(
        name, command, _airflow_probe, stop_phase, component="airflow", runs_airflow=True,
        **kwargs,
    )  # fmt: skip


# -- the parts -------------------------------------------------------------------------------
# The stop phases, first to last.
STOP_SCHEDULING, STOP_WORKERS, STOP_API, STOP_REHEARSAL, STOP_STORAGE, STOP_DATABASE = range(6)
STATIC = (
    Part("postgres", None, _postgres_probe, STOP_DATABASE, port="postgres", component="postgres"),
    Part("s3", _moto, _s3_probe, STOP_STORAGE, port="s3", component="s3"),
    _airflow_part(
        "api-server", _airflow("api-server", "--host", HOST, port=True), STOP_API, port="api"
    ),
    # Whole sessions: the scheduler's running tasks get SIGTERM now rather than being waited
    # for (a re-run of a partition is safe), and the triggerer's leader would give its
    # trigger runner 10 s (hard-coded) to react to SIGINT. Triggers resume on the next start.
    _airflow_part(
        "scheduler",
        _airflow("scheduler", "--skip-serve-logs"),
        STOP_SCHEDULING,
        whole_session=True,
        heartbeat="scheduler",
    ),
    _airflow_part(
        "dag-processor", _airflow("dag-processor"), STOP_SCHEDULING, heartbeat="dag_processor"
    ),
    _airflow_part(
        "triggerer",
        _airflow("triggerer", "--skip-serve-logs"),
        STOP_SCHEDULING,
        whole_session=True,
        heartbeat="triggerer",
    ),
    Part(
        REDSHIFT_PART,
        _rehearsal,
        _redshift_probe,
        STOP_REHEARSAL,
        port="redshift",
        env=_rehearsal_env,
    ),
    Part(REDIS_PART, _redis, _redis_probe, STOP_STORAGE, port="redis"),
)
_BY_NAME = {p.name: p for p in STATIC}
HEARTBEATS = {p.name: p.heartbeat for p in STATIC if p.heartbeat}


def worker(name: str) -> Part:
    """A Celery worker, ``worker-N``: stopped right after the scheduler, as a whole session."""
    return Part(
        name,
        lambda _cfg, _state_dir: celery_parts.worker_command(name),
        _worker_probe,
        STOP_WORKERS,
        env=lambda _cfg: celery_parts.worker_env(name),
        whole_session=True,
        runs_airflow=True,
    )


def part(name: str) -> Part:
    """The part called ``name``."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if celery_parts.is_worker(name):
        return worker(name)
    raise StackError(f"Unknown part {name!r}")


def parts_of(component: str) -> tuple[str, ...]:
    """The parts ``up`` starts for ``component`` itself (``airflow-db``: none; the executor's
    parts and the rehearsal follow from the config)."""
    return tuple(p.name for p in STATIC if p.component == component)


def stop_phases(names: Iterable[str]) -> list[tuple[str, ...]]:
    """What ``down`` stops, phase by phase: every part of ``ALL_PARTS`` (a pid file left
    says whether it runs) and the parts among ``names`` that the config adds (Redis, the
    workers), except PostgreSQL, which ``down`` stops last, by ``pg_ctl``."""
    wanted = [part(n) for n in dict.fromkeys((*ALL_PARTS, *names))]
    spawned = [p for p in wanted if p.own_session]
    return [
        tuple(p.name for p in spawned if p.stop_phase == phase)
        for phase in sorted({p.stop_phase for p in spawned})
    ]
