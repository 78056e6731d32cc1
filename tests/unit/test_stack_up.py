"""``Stack.up`` (``sparkify.local.stack.up``): the executor chosen, the parts started as
their ``Part`` says."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sparkify.local.stack import process as stack_process
from sparkify.local.stack.config import (
    StackError,
)
from sparkify.local.stack.stack import Stack
from tests.unit.test_stack_config import CELERY_CFG


def _stack_with(tmp_path: Path, cfg: dict) -> Stack:
    stack = Stack(tmp_path)
    stack._save_config(cfg)
    return stack


def test_choose_executor_defaults_to_local_and_celery_to_two_workers(tmp_path: Path):
    stack = _stack_with(tmp_path, dict(CELERY_CFG))
    cfg = dict(CELERY_CFG)
    stack._choose_executor(cfg, None, None)  # nothing running: back to the default
    assert cfg["executor"] == "local"
    assert "workers" not in cfg
    stack._choose_executor(cfg, "celery", None)
    assert (cfg["executor"], cfg["workers"]) == ("celery", 2)
    stack._choose_executor(cfg, "celery", 3)
    assert cfg["workers"] == 3
    with pytest.raises(StackError, match="--workers needs --executor celery"):
        stack._choose_executor(cfg, "local", 2)
    with pytest.raises(StackError, match="Unknown executor"):
        stack._choose_executor(cfg, "kubernetes", None)
    with pytest.raises(StackError, match="at least 1"):
        stack._choose_executor(cfg, "celery", 0)


def test_choose_executor_refuses_a_change_under_running_processes(tmp_path: Path):
    stack = _stack_with(tmp_path, dict(CELERY_CFG))
    stack_process.write_pid(stack._pid_path("scheduler"), os.getpid())  # "running"
    cfg = dict(CELERY_CFG)
    stack._choose_executor(cfg, None, None)  # keeps what runs
    assert (cfg["executor"], cfg["workers"]) == ("celery", 2)
    with pytest.raises(StackError, match="stack down"):
        stack._choose_executor(cfg, "local", None)
    with pytest.raises(StackError, match="stack down"):
        stack._choose_executor(cfg, "celery", 4)


def test_airflow_parts_started_paused_at_creation_get_the_setting(
    monkeypatch, tmp_path: Path
) -> None:
    spawned: dict[str, dict[str, str]] = {}

    class Child:
        pid = 4242

    def spawn(part, _cmd, *, env, **_kwargs) -> Any:
        spawned[part] = env
        return Child()

    monkeypatch.setattr(stack_process, "spawn", spawn)
    monkeypatch.setattr(stack_process, "write_pid", lambda *_a: None)
    stack = Stack(tmp_path / "state")
    cfg = stack.init_config()
    assert stack.airflow_is_new()
    for part in ("dag-processor", "scheduler", "s3"):
        stack._ensure_process(part, cfg, lambda _msg: None, paused_at_creation=True)
    setting = "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"
    assert spawned["dag-processor"][setting] == "True"
    assert spawned["scheduler"][setting] == "True"
    assert setting not in spawned["s3"] or spawned["s3"][setting] != "True"
    del stack._children["dag-processor"]
    stack._ensure_process("dag-processor", cfg, lambda _msg: None)
    assert spawned["dag-processor"].get(setting) != "True"


def test_an_unknown_warehouse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="Unknown warehouse"):
        Stack(tmp_path).up(["s3"], warehouse="bigquery")
