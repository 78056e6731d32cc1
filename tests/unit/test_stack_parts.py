"""The stack's parts as data (``sparkify.local.stack.parts``): each part's command, port,
health probe and stop phase, and the order ``down`` stops them in."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkify.local.stack import parts as stack_parts
from sparkify.local.stack.config import (
    AIRFLOW_PARTS,
    ALL_PARTS,
    COMPONENTS,
    PORT_ENV,
    REDIS_PART,
    REDSHIFT_PART,
    StackError,
    executor_parts,
)
from tests.unit.test_stack_config import CELERY_CFG

EVERY_PART = (*ALL_PARTS, *executor_parts(CELERY_CFG))


@pytest.mark.parametrize("name", EVERY_PART)
def test_every_part_has_a_command_a_probe_and_a_stop_phase(name: str, tmp_path: Path) -> None:
    part = stack_parts.part(name)
    assert part.name == name
    assert callable(part.probe)
    assert part.stop_phase in range(stack_parts.STOP_DATABASE + 1)
    if name == "postgres":  # pg_ctl starts and stops it, not a session of the stack's
        assert part.command is None
        assert not part.own_session
        return
    if name == REDIS_PART:
        pytest.importorskip("redis")
    cfg = {**CELERY_CFG, "ports": {**CELERY_CFG["ports"], "redshift": 5439}}
    try:
        cmd = part.command(cfg, tmp_path)
    except StackError:  # redis-server not installed here
        assert name == REDIS_PART
        return
    assert cmd
    assert all(isinstance(arg, str) for arg in cmd)
    env = part.env(cfg)
    assert all(isinstance(value, str) for value in env.values())
    # Secrets travel in the environment, never on a command line.
    secrets = {str(v) for v in cfg["secrets"].values()}
    assert not secrets & set(cmd)


@pytest.mark.parametrize("name", EVERY_PART)
def test_a_part_that_listens_has_a_port_the_config_chooses(name: str) -> None:
    part = stack_parts.part(name)
    if part.port is not None:
        assert part.port in PORT_ENV
    listening = {"postgres", "s3", "api-server", REDSHIFT_PART, REDIS_PART}
    assert (part.port is not None) == (name in listening)


def test_a_part_listens_on_its_configured_port(tmp_path: Path) -> None:
    cfg = {**CELERY_CFG, "ports": {**CELERY_CFG["ports"], "redshift": 5439}}
    for name in ("s3", "api-server", REDSHIFT_PART):
        part = stack_parts.part(name)
        cmd = part.command(cfg, tmp_path)
        assert cmd[cmd.index("--port") + 1] == str(cfg["ports"][part.port])
        assert cmd[cmd.index("--host") + 1] == "127.0.0.1"


def test_the_rehearsal_gets_its_passwords_through_the_environment(tmp_path: Path) -> None:
    cfg = {**CELERY_CFG, "ports": {**CELERY_CFG["ports"], "redshift": 5439}}
    env = stack_parts.part(REDSHIFT_PART).env(cfg)
    assert env["SPARKIFY_REDSHIFT_PASSWORD"] == cfg["secrets"]["warehouse_password"]
    assert "wh-read-pass" in env["SPARKIFY_REDSHIFT_USERS"]


def test_the_components_parts_and_the_airflow_processes() -> None:
    assert stack_parts.parts_of("postgres") == ("postgres",)
    assert stack_parts.parts_of("s3") == ("s3",)
    assert stack_parts.parts_of("airflow-db") == ()
    assert stack_parts.parts_of("airflow") == AIRFLOW_PARTS
    assert {p for c in COMPONENTS for p in stack_parts.parts_of(c)} == {*ALL_PARTS} - {
        REDSHIFT_PART
    }
    runs_airflow = {p for p in EVERY_PART if stack_parts.part(p).runs_airflow}
    assert runs_airflow == {*AIRFLOW_PARTS, "worker-1", "worker-2"}
    assert set(stack_parts.HEARTBEATS) == set(AIRFLOW_PARTS) - {"api-server"}


def test_an_unknown_part_is_refused() -> None:
    with pytest.raises(StackError, match="Unknown part"):
        stack_parts.part("nginx")


def test_airflow_stops_before_postgresql_and_the_api_server_after_the_scheduler() -> None:
    order = {p: stack_parts.part(p).stop_phase for p in EVERY_PART}
    assert max(order[p] for p in AIRFLOW_PARTS) < order["postgres"]
    assert order["postgres"] == max(order.values())  # last of all
    assert order["scheduler"] < order["worker-1"] < order["api-server"]
    assert order[REDSHIFT_PART] < order["s3"]


def test_workers_stop_after_the_scheduler_and_redis_last() -> None:
    phases = stack_parts.stop_phases(("scheduler", "api-server", "redis", "worker-1", "worker-2"))
    assert phases[0] == ("scheduler", "dag-processor", "triggerer")
    assert phases[1] == ("worker-1", "worker-2")
    assert phases[-1][-1] == "redis"
    # Without the executor's parts: the fixed parts all the same (their pid files decide).
    assert stack_parts.stop_phases(("scheduler",)) == [
        ("scheduler", "dag-processor", "triggerer"),
        ("api-server",),
        (REDSHIFT_PART,),
        ("s3",),
    ]
    assert "postgres" not in {p for phase in phases for p in phase}  # pg_ctl, after these


def test_whole_sessions_are_the_scheduler_the_triggerer_and_the_workers() -> None:
    whole = {p for p in EVERY_PART if stack_parts.part(p).whole_session}
    assert whole == {"scheduler", "triggerer", "worker-1", "worker-2"}
