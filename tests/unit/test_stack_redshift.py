"""The stack with ``--warehouse redshift``: the rehearsal as one more part, and the
``warehouse`` connection pointed at it. The default (``postgres``) is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from sparkify.local.stack import parts as stack_parts
from sparkify.local.stack.config import (
    ALL_PARTS,
    PARTS,
    REDSHIFT_PART,
    render_env,
)
from tests.unit.test_stack_config import CFG


def test_the_default_warehouse_connection_is_postgres(tmp_path: Path) -> None:
    env = render_env(CFG, state_dir=tmp_path, dags=tmp_path / "dags")
    conn = json.loads(env["AIRFLOW_CONN_WAREHOUSE"])
    assert conn["conn_type"] == "postgres"
    assert conn["port"] == CFG["ports"]["postgres"]
    assert "SPARKIFY_IAM_ROLE" not in env


def test_the_redshift_warehouse_goes_through_the_rehearsal(tmp_path: Path) -> None:
    cfg = {**CFG, "ports": {**CFG["ports"], "redshift": 5439}, "warehouse": "redshift"}
    env = render_env(cfg, state_dir=tmp_path, dags=tmp_path / "dags")
    conn = json.loads(env["AIRFLOW_CONN_WAREHOUSE"])
    assert conn["conn_type"] == "redshift"
    assert (conn["host"], conn["port"]) == ("127.0.0.1", 5439)
    assert conn["extra"] == {"ssl": False}
    assert env["SPARKIFY_IAM_ROLE"].startswith("arn:aws:iam::")
    # The rehearsal's password reaches it through its own environment, not this one.
    assert "SPARKIFY_REDSHIFT_PASSWORD" not in env


def test_the_rehearsal_is_a_part_stopped_before_s3() -> None:
    # Not one of the default stack's parts: status lists it only where it is wanted.
    assert REDSHIFT_PART not in PARTS
    assert REDSHIFT_PART in ALL_PARTS
    order = [part for phase in stack_parts.stop_phases(ALL_PARTS) for part in phase]
    assert order.index(REDSHIFT_PART) < order.index("s3")
