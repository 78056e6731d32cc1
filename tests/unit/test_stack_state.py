"""The stack's state directory (``sparkify.local.stack.state``): ``stack.json``, its
private modes, what the state says about reaching the stack."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from sparkify.local.stack import process as stack_process
from sparkify.local.stack import workers as celery_parts
from sparkify.local.stack.config import (
    StackError,
)
from sparkify.local.stack.stack import Stack
from tests.unit.test_stack_config import CELERY_CFG, CFG


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def shared_state_mode() -> tuple[int, int | None]:
    """What the state directory and logs should be: 0700, or as root 0710 with the postgres
    user's group (PostgreSQL runs as that user and must pass through them)."""
    import pwd

    if os.geteuid() != 0:
        return 0o700, None
    try:
        return 0o710, pwd.getpwnam("postgres").pw_gid
    except KeyError:
        return 0o700, None


def test_init_config_is_private_and_stable(clean_env, tmp_path: Path):
    stack = Stack(tmp_path / "state")
    first = stack.init_config()
    assert stat.S_IMODE(stack.config_path.stat().st_mode) == 0o600
    again = Stack(tmp_path / "state").init_config()
    assert again["ports"] == first["ports"]
    assert again["secrets"] == first["secrets"]
    assert len(set(first["secrets"].values())) == len(first["secrets"])
    assert first["bucket"] == "sparkify-local"
    assert stack.env() == Stack(tmp_path / "state").env()
    assert stack.api_url == f"http://127.0.0.1:{first['ports']['api']}"
    assert stack.admin_password == first["secrets"]["admin_password"]


def test_environment_overrides_ports_and_bucket(clean_env, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("SPARKIFY_PG_PORT", "15432")
    monkeypatch.setenv("SPARKIFY_BUCKET", "other-bucket")
    stack = Stack(tmp_path)
    stack.init_config()
    assert json.loads(stack.env()["AIRFLOW_CONN_WAREHOUSE"])["port"] == 15432
    assert stack.env()["SPARKIFY_BUCKET"] == "other-bucket"


def test_the_stack_keeps_the_data_prefixes_it_was_brought_up_with(
    clean_env, monkeypatch, tmp_path: Path
):
    """A later shell, or a part restarted from one, reads the data where the first `up` put
    it, though its own environment does not say (`sparkify stack env` passes them on)."""
    plain = Stack(tmp_path / "plain")
    plain.init_config()
    assert "SPARKIFY_EVENTS_PREFIX" not in plain.env()
    monkeypatch.setenv("SPARKIFY_EVENTS_PREFIX", "raw/events")
    Stack(tmp_path / "moved").init_config()
    monkeypatch.delenv("SPARKIFY_EVENTS_PREFIX")
    later = Stack(tmp_path / "moved")
    later.init_config()
    assert later.env()["SPARKIFY_EVENTS_PREFIX"] == "raw/events"
    assert "SPARKIFY_SONGS_PREFIX" not in later.env()
    assert later.pipeline_settings().events_prefix == "raw/events"


def test_state_dir_defaults_to_sparkify_home_then_cwd(clean_env, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert Stack().state_dir == tmp_path / ".sparkify"
    monkeypatch.setenv("SPARKIFY_HOME", "elsewhere")
    assert Stack().state_dir == tmp_path / "elsewhere"


def test_env_needs_a_stack(tmp_path: Path):
    with pytest.raises(StackError, match="run `sparkify stack up` first"):
        Stack(tmp_path).env()


def test_the_state_the_stack_writes_is_private(clean_env, open_umask, tmp_path: Path):
    stack = Stack(tmp_path / "state")
    cfg = stack.init_config()
    with stack._lock():
        stack._write_passwords_file(cfg)
        stack_process.write_pid(stack._pid_path("s3"), os.getpid())
        celery_parts.write_redis_config(CELERY_CFG, stack.state_dir / "redis")
    shared, group = shared_state_mode()
    assert mode_of(stack.state_dir) == shared
    assert mode_of(stack.log_dir) == shared
    if group is not None:
        assert stack.state_dir.stat().st_gid == stack.log_dir.stat().st_gid == group
    for folder in (stack.run_dir, stack.airflow_home, stack.state_dir / "redis"):
        assert mode_of(folder) == 0o700, folder
    files = [
        stack.config_path,
        stack.state_dir / "stack.lock",
        stack.airflow_home / "passwords.json",
        stack._pid_path("s3"),
        stack.state_dir / "redis" / "redis.conf",
    ]
    for path in files:
        assert mode_of(path) == 0o600, path
    assert stack.pid("s3") == os.getpid()  # the private pid file still reads back


def test_what_the_stacks_processes_write_is_private(clean_env, open_umask, tmp_path: Path):
    # As Airflow writes airflow.cfg and its logs: whatever the parent's umask, 0077 applies.
    script = (
        "import os, pathlib; home = pathlib.Path(os.environ['AIRFLOW_HOME']); "
        "(home / 'logs').mkdir(); (home / 'logs' / 'task.log').write_text('x'); "
        "(home / 'airflow.cfg').write_text('[core]'); print('written')"
    )
    stack = Stack(tmp_path / "state")
    stack.init_config()
    log = stack.log_path("writer")
    child = stack_process.spawn(
        "writer", [sys.executable, "-c", script], env=stack._process_env(), log_path=log,
        cwd=stack.state_dir,
    )  # fmt: skip
    assert child.wait(timeout=60) == 0
    assert "written" in log.read_text()
    assert mode_of(log) == 0o600
    assert mode_of(stack.airflow_home / "airflow.cfg") == 0o600
    assert mode_of(stack.airflow_home / "logs") == 0o700
    assert mode_of(stack.airflow_home / "logs" / "task.log") == 0o600
    env = stack.env()  # and Airflow's own task log modes (it chmods them itself) follow suit
    assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS"] == "0o700"
    assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS"] == "0o600"


def test_an_older_states_modes_are_made_private(clean_env, tmp_path: Path):
    state = tmp_path / "state"
    for folder in ("logs", "run", "airflow", "demo-data"):
        (state / folder).mkdir(parents=True)
    old = {
        "stack.json": 0o644, "logs/s3.log": 0o644, "run/s3.pid": 0o664,
        "report.html": 0o644, "logs/tool.sh": 0o755,
    }  # fmt: skip
    for name, mode in old.items():
        (state / name).write_text(json.dumps(CFG) if name == "stack.json" else "x")
        (state / name).chmod(mode)
    (state / "unrelated.txt").write_text("not the stack's")
    (state / "unrelated.txt").chmod(0o644)
    for folder in (state, *state.iterdir()):
        if folder.is_dir():
            folder.chmod(0o755)
    Stack(state).init_config()
    assert mode_of(state) == shared_state_mode()[0]
    for folder in ("run", "airflow", "demo-data"):
        assert mode_of(state / folder) == 0o700, folder
    for name in ("stack.json", "logs/s3.log", "run/s3.pid", "report.html"):
        assert mode_of(state / name) == 0o600, name
    assert mode_of(state / "logs" / "tool.sh") == 0o700  # the user's bits are kept
    assert mode_of(state / "unrelated.txt") == 0o644  # what is not the stack's is left alone
