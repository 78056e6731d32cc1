"""The local stack's façade (``sparkify.local.stack.stack.Stack``) and ``sparkify stack``."""

from __future__ import annotations

import pytest

from sparkify.cli.main import build_parser
from sparkify.local.stack.stack import Stack


def test_cli_parses_stack_actions():
    parser = build_parser()
    args = parser.parse_args(["stack", "up", "--only", "postgres,s3", "--timeout", "30"])
    assert (args.action, args.only, args.timeout) == ("up", "postgres,s3", 30.0)
    assert parser.parse_args(["stack", "down", "--purge"]).purge
    assert parser.parse_args(["stack", "status", "--json"]).json
    assert callable(parser.parse_args(["stack", "env"]).func)


def test_cli_env_prints_exports(clean_env, monkeypatch, tmp_path, capsys):
    from sparkify.cli.main import main

    monkeypatch.setenv("SPARKIFY_HOME", str(tmp_path))
    Stack(tmp_path).init_config()
    assert main(["stack", "env"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith("export ") for line in lines)
    assert any(line.startswith("export AIRFLOW_CONN_WAREHOUSE=") for line in lines)


def test_cli_takes_executor_options_on_stack_up_and_demo():
    parser = build_parser()
    args = parser.parse_args(["stack", "up", "--executor", "celery", "--workers", "3"])
    assert (args.executor, args.workers) == ("celery", 3)
    args = parser.parse_args(["stack", "up"])
    assert (args.executor, args.workers) == (None, None)
    args = parser.parse_args(["demo", "--executor", "celery", "--workers", "2"])
    assert (args.executor, args.workers) == ("celery", 2)
    with pytest.raises(SystemExit):
        parser.parse_args(["stack", "up", "--executor", "kubernetes"])


def test_the_facade_keeps_what_its_users_call(tmp_path):
    stack = Stack(tmp_path / "state", environ={"X": "1"})
    for name in (
        "up", "down", "status", "env", "api_client", "api_token", "warehouse_dsn", "pid",
        "processes", "restart_postgres", "init_config", "log_path", "s3_client",
        "listening_sockets", "airflow_is_new", "worker_parts", "parts", "_postgres",
    ):  # fmt: skip
        assert callable(getattr(stack, name)), name
    assert stack.state_dir == (tmp_path / "state").resolve()
    assert stack.airflow_home == stack.state_dir / "airflow"
    assert stack.extra_env == {"X": "1"}
    assert stack.executor == "local"
    assert stack.worker_parts() == ()
