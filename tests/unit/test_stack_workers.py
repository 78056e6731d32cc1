"""The CeleryExecutor's parts (``sparkify.local.stack.workers``): Redis and the workers."""

from __future__ import annotations

import importlib
import stat
from pathlib import Path

import pytest

from sparkify.local.stack import workers as celery_parts
from tests.unit.test_stack_config import CELERY_CFG


def test_workers_report_their_own_hostname(monkeypatch: pytest.MonkeyPatch):
    env = celery_parts.worker_env("worker-2")
    assert env["SPARKIFY_WORKER_HOSTNAME"] == celery_parts.celery_hostname("worker-2")
    assert env["SPARKIFY_WORKER_HOSTNAME"].startswith("worker-2@")
    monkeypatch.setenv("SPARKIFY_WORKER_HOSTNAME", env["SPARKIFY_WORKER_HOSTNAME"])
    # [core] hostname_callable is a dotted path that Airflow imports in the task processes.
    module, _, name = env["AIRFLOW__CORE__HOSTNAME_CALLABLE"].rpartition(".")
    callable_ = getattr(importlib.import_module(module), name)
    assert callable_() == env["SPARKIFY_WORKER_HOSTNAME"]
    cmd = celery_parts.worker_command("worker-2")
    assert "--skip-serve-logs" in cmd
    assert cmd[cmd.index("--celery-hostname") + 1] == env["SPARKIFY_WORKER_HOSTNAME"]


def test_redis_config_is_private_loopback_and_persists_nothing(tmp_path: Path):
    path = celery_parts.write_redis_config(CELERY_CFG, tmp_path / "redis")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert "bind 127.0.0.1" in lines
    assert "port 5004" in lines
    assert "requirepass redis-pass" in lines
    assert {"protected-mode yes", 'save ""', "appendonly no"} <= set(lines)
