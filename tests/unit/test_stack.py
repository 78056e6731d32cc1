"""The local stack's pure parts: components, ports, rendered environment, state, processes."""

from __future__ import annotations

import importlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sparkify.cli.main import build_parser
from sparkify.local.stack import process as stack_process
from sparkify.local.stack import workers as celery_parts
from sparkify.local.stack.config import STOP_PHASES, executor_parts
from sparkify.local.stack.postgres import PostgresError, find_bindir
from sparkify.local.stack.stack import (
    COMPONENTS,
    PORT_ENV,
    Stack,
    StackError,
    choose_ports,
    dags_folder,
    expand_components,
    export_lines,
    render_env,
)

CFG = {
    "ports": {"postgres": 5001, "s3": 5002, "api": 5003},
    "bucket": "a-bucket",
    "secrets": {
        "warehouse_password": "wh-pass",
        "warehouse_read_password": "wh-read-pass",
        "airflow_db_password": "af-pass",
        "admin_password": "admin-pass",
        "jwt_secret": "jwt",
        "api_secret_key": "api-key",
        "fernet_key": "fernet",
    },
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stack settings from the test session's environment."""
    for var in (*PORT_ENV.values(), "SPARKIFY_BUCKET", "SPARKIFY_HOME", "SPARKIFY_DAGS_FOLDER"):
        monkeypatch.delenv(var, raising=False)


# -- components and ports ------------------------------------------------------------------
def test_expand_components_adds_what_each_needs_in_start_order():
    assert expand_components(["airflow"]) == ["postgres", "airflow-db", "airflow"]
    assert expand_components(["s3", "airflow-db"]) == ["postgres", "s3", "airflow-db"]
    assert expand_components(COMPONENTS) == list(COMPONENTS)


def test_expand_components_rejects_unknown_names():
    with pytest.raises(StackError, match="Unknown component 'redis'"):
        expand_components(["redis"])


def test_choose_ports_prefers_environment_then_remembered_then_new():
    ports = choose_ports({"postgres": 6000, "s3": 6001}, {"SPARKIFY_S3_PORT": "7001"})
    assert ports["postgres"] == 6000
    assert ports["s3"] == 7001
    assert ports["api"] not in (6000, 7001)
    assert 1024 < ports["api"] < 65536


def test_choose_ports_picks_distinct_free_ports():
    ports = choose_ports({}, {})
    assert set(ports) == {"postgres", "s3", "api", "redshift", "redis"}
    assert len(set(ports.values())) == len(ports)
    assert all(stack_process.port_is_free(p) for p in ports.values())


def test_choose_ports_rejects_a_non_numeric_override():
    with pytest.raises(StackError, match="SPARKIFY_PG_PORT must be a port number"):
        choose_ports({}, {"SPARKIFY_PG_PORT": "five"})


def test_port_is_free_sees_a_listener_but_not_time_wait():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not stack_process.port_is_free(port)
    assert stack_process.port_is_free(port)


# -- rendered environment ------------------------------------------------------------------
def test_render_env_connections_are_json_and_local(tmp_path: Path):
    env = render_env(CFG, state_dir=tmp_path, dags=tmp_path / "dags")
    warehouse = json.loads(env["AIRFLOW_CONN_WAREHOUSE"])
    assert warehouse == {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5001,
        "login": "sparkify",
        "password": "wh-pass",
        "schema": "sparkify",
    }
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["conn_type"] == "aws"
    assert (aws["login"], aws["password"]) == ("testing", "testing")
    assert aws["extra"] == {"endpoint_url": "http://127.0.0.1:5002", "region_name": "us-east-1"}
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5002"
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["SPARKIFY_ENV"] == "local"
    assert env["SPARKIFY_BUCKET"] == "a-bucket"
    assert env["SPARKIFY_HOME"] == str(tmp_path)
    # The SQS queue the bucket notifies, on the same moto endpoint, in the bucket's region.
    assert env["SPARKIFY_NOTIFICATIONS_QUEUE"] == (
        "http://127.0.0.1:5002/123456789012/sparkify-landing"
    )


def test_render_env_configures_airflow_for_this_stack(tmp_path: Path):
    env = render_env(CFG, state_dir=tmp_path, dags=tmp_path / "dags")
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:5003/execution/"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__PORT"] == "5003"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        "postgresql+psycopg2://airflow:af-pass@127.0.0.1:5001/airflow"
    )
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith(str(tmp_path))
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "jwt"
    assert env["AIRFLOW__API__SECRET_KEY"] == "api-key"
    assert env["AIRFLOW__CORE__FERNET_KEY"] == "fernet"
    assert int(env["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"]) <= 5
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "False"
    assert all(isinstance(v, str) for v in env.values())


def test_export_lines_survive_a_shell_round_trip():
    env = {"A": "plain", "B": 'it\'s $HOME `x` "q"', "C": '{"json": [1, 2]}'}
    script = export_lines(env) + 'printf "%s\\n" "$A" "$B" "$C"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [env["A"], env["B"], env["C"]]


def test_dags_folder_is_the_repositorys_unless_overridden(clean_env, monkeypatch, tmp_path):
    assert dags_folder() == Path(__file__).resolve().parents[2] / "dags"
    monkeypatch.setenv("SPARKIFY_DAGS_FOLDER", str(tmp_path))
    assert dags_folder() == tmp_path


# -- state ----------------------------------------------------------------------------------
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


def test_state_dir_defaults_to_sparkify_home_then_cwd(clean_env, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert Stack().state_dir == tmp_path / ".sparkify"
    monkeypatch.setenv("SPARKIFY_HOME", "elsewhere")
    assert Stack().state_dir == tmp_path / "elsewhere"


def test_env_needs_a_stack(tmp_path: Path):
    with pytest.raises(StackError, match="run `sparkify stack up` first"):
        Stack(tmp_path).env()


def test_status_of_a_missing_stack_is_all_stopped(tmp_path: Path):
    parts = Stack(tmp_path / "none").status()
    assert {p["state"] for p in parts.values()} == {"stopped"}
    assert not any(p["healthy"] or p["wanted"] for p in parts.values())


def test_down_without_state_is_a_no_op(tmp_path: Path):
    Stack(tmp_path / "none").down(purge=True)
    assert not (tmp_path / "none").exists()


def test_purge_refuses_a_directory_that_is_not_a_stack(clean_env, tmp_path: Path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(StackError, match="does not look like a stack state directory"):
        Stack(tmp_path).down(purge=True)
    assert (tmp_path / "precious.txt").exists()


def test_purge_deletes_the_state_dir(clean_env, tmp_path: Path):
    stack = Stack(tmp_path / "state")
    stack.init_config()
    stack.down(purge=True)
    assert not stack.state_dir.exists()


def test_purge_deletes_the_state_dir_after_a_demo_wrote_its_report(clean_env, tmp_path: Path):
    stack = Stack(tmp_path / "state")
    stack.init_config()
    (stack.state_dir / "report.html").write_text("<html></html>")  # as the demo leaves it
    stack.down(purge=True)
    assert not stack.state_dir.exists()


def test_missing_postgres_says_how_to_install_it(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("SPARKIFY_PG_BINDIR", str(tmp_path))
    with pytest.raises(PostgresError, match="apt-get install postgresql"):
        find_bindir()


# -- processes ------------------------------------------------------------------------------
def test_pid_file_is_valid_only_for_the_process_it_was_written_for(tmp_path: Path):
    path = tmp_path / "me.pid"
    stack_process.write_pid(path, os.getpid())
    assert stack_process.read_pid(path) == os.getpid()
    pid, since_boot = path.read_text().split()
    # Written for a process started an hour later, since boot:
    path.write_text(f"{pid} {float(since_boot) + 3600:.2f}\n")
    assert stack_process.read_pid(path) is None
    assert "another process" in stack_process.why_not_running(path)
    # An old pid file, the PID alone: its stamp (the start time) decides.
    path.write_text(f"{pid}\n")
    os.utime(path, (time.time() + 3600, time.time() + 3600))  # as if written for a later process
    assert stack_process.read_pid(path) is None
    path.write_text("not a pid")
    assert stack_process.read_pid(path) is None
    assert stack_process.read_pid(tmp_path / "missing.pid") is None


def test_a_clock_step_does_not_make_a_running_part_look_gone(monkeypatch, tmp_path: Path):
    """The wall clock stepped 30 s after the pid file was written (a virtual machine's clock
    corrected after a stall, NTP): the boot time and every start time move with it."""
    path = tmp_path / "me.pid"
    stack_process.write_pid(path, os.getpid())
    real_boot_time = stack_process.psutil.boot_time

    def stepped() -> float:
        return real_boot_time() + 30.0

    monkeypatch.setattr(stack_process.psutil, "boot_time", stepped)
    monkeypatch.setattr(
        stack_process.psutil.Process,
        "create_time",
        lambda self, _real=stack_process.psutil.Process.create_time: _real(self) + 30.0,
    )
    assert stack_process.read_pid(path) == os.getpid()


def test_terminate_sessions_stops_children_that_left_the_process_group(tmp_path: Path):
    # Like Airflow's task supervisors: a grandchild in a process group of its own.
    escapee = (
        "import os, sys, time; os.setpgid(0, 0); "
        "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)"
    )
    marker = tmp_path / "escapee.pid"
    script = f"{sys.executable} -c {escapee!r} {marker} & sleep 300"
    child = stack_process.spawn(
        "test", ["bash", "-c", script], env=os.environ, log_path=tmp_path / "t.log", cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 10
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline, "escapee did not start"
            time.sleep(0.05)
        grandchild = int(marker.read_text())
        assert os.getpgid(grandchild) != child.pid
        assert os.getsid(grandchild) == child.pid
        members = {p.pid for p in stack_process.session_members(child.pid)}
        assert {child.pid, grandchild} <= members

        survivors = stack_process.terminate_sessions([child.pid], timeout=5)
        child.wait(timeout=5)

        assert survivors == []
        assert not stack_process.is_running(grandchild)
    finally:
        for proc in stack_process.session_members(child.pid):
            proc.kill()
        child.wait(timeout=5)


def test_listening_sockets_reports_address_and_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        found = stack_process.listening_sockets([psutil.Process()])
    assert (os.getpid(), "127.0.0.1", port) in found


# -- command line ---------------------------------------------------------------------------
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


def test_cli_status_fails_when_nothing_runs(monkeypatch, tmp_path, capsys):
    from sparkify.cli.main import main

    monkeypatch.setenv("SPARKIFY_HOME", str(tmp_path))
    assert main(["stack", "status", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["postgres"]["state"] == "stopped"


# -- the executor ---------------------------------------------------------------------------
CELERY_CFG = {
    **CFG,
    "ports": {**CFG["ports"], "redis": 5004},
    "secrets": {**CFG["secrets"], "redis_password": "redis-pass"},
    "executor": "celery",
    "workers": 2,
}


def test_render_env_points_the_celery_executor_at_redis_and_the_metadata_db(tmp_path: Path):
    env = render_env(CELERY_CFG, state_dir=tmp_path, dags=tmp_path / "dags")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:redis-pass@127.0.0.1:5004/0"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == (
        "db+postgresql://airflow:af-pass@127.0.0.1:5001/airflow"
    )
    assert "AIRFLOW__CELERY__BROKER_URL" not in render_env(CFG, state_dir=tmp_path, dags=tmp_path)


def test_executor_parts_are_redis_and_one_part_per_worker():
    assert executor_parts(CFG) == ()
    assert executor_parts(CELERY_CFG) == ("redis", "worker-1", "worker-2")
    assert executor_parts({**CELERY_CFG, "workers": 3})[-1] == "worker-3"


def test_workers_stop_after_the_scheduler_and_redis_last():
    phases = Stack._stop_phases(("scheduler", "api-server", "redis", "worker-1", "worker-2"))
    assert phases[0] == ("scheduler", "triggerer", "dag-processor")
    assert phases[1] == ("worker-1", "worker-2")
    assert phases[-1][-1] == "redis"
    assert Stack._stop_phases(("scheduler",)) == [tuple(p) for p in STOP_PHASES]


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


# -- a private state ---------------------------------------------------------------------------
def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def open_umask():
    """The loosest umask (0000): the modes asserted come from the stack, not the umask."""
    before = os.umask(0)
    yield
    os.umask(before)


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


def test_the_postgres_config_it_writes_is_private(open_umask, tmp_path: Path):
    from sparkify.local.stack.postgres import PostgresCluster

    data = tmp_path / "pg"
    data.mkdir()
    (data / "sparkify.conf").write_text("old")
    (data / "sparkify.conf").chmod(0o644)
    cluster = PostgresCluster(data, port=5001, log_path=tmp_path / "pg.log", socket_dir=data)
    cluster._give_to_owner = lambda path: None  # as root it would chown to postgres
    cluster.write_config()
    assert mode_of(data / "sparkify.conf") == 0o600
    assert "port = '5001'" in (data / "sparkify.conf").read_text()


def test_private_dir_makes_a_missing_directory_0700_and_leaves_an_existing_one(
    open_umask, tmp_path: Path
):
    made = stack_process.private_dir(tmp_path / "a" / "b")
    assert mode_of(made) == 0o700
    (tmp_path / "c").mkdir(mode=0o750)
    assert mode_of(stack_process.private_dir(tmp_path / "c")) == 0o750
