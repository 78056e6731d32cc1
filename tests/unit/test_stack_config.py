"""The local stack's configuration (``sparkify.local.stack.config``): components, ports,
the rendered environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sparkify.local.stack import process as stack_process
from sparkify.local.stack.config import (
    COMPONENTS,
    StackError,
    choose_ports,
    dags_folder,
    executor_parts,
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


CELERY_CFG = {
    **CFG,
    "ports": {**CFG["ports"], "redis": 5004},
    "secrets": {**CFG["secrets"], "redis_password": "redis-pass"},
    "executor": "celery",
    "workers": 2,
}


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


def test_export_lines_survive_a_shell_round_trip():
    env = {"A": "plain", "B": 'it\'s $HOME `x` "q"', "C": '{"json": [1, 2]}'}
    script = export_lines(env) + 'printf "%s\\n" "$A" "$B" "$C"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [env["A"], env["B"], env["C"]]


def test_dags_folder_is_the_repositorys_unless_overridden(clean_env, monkeypatch, tmp_path):
    assert dags_folder() == Path(__file__).resolve().parents[2] / "dags"
    monkeypatch.setenv("SPARKIFY_DAGS_FOLDER", str(tmp_path))
    assert dags_folder() == tmp_path
