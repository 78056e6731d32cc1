"""Airflow's metadata template (``sparkify.local.stack.template``) restores to exactly what
``airflow db migrate`` makes: the migrations' head, the same tables, the default pool,
every object the Airflow role's."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from sparkify.local.stack.config import AIRFLOW_DB, AIRFLOW_ROLE, HOST
from sparkify.local.stack.template import template_path

pytestmark = pytest.mark.integration


def _connect(stack, dbname: str) -> psycopg.Connection:
    return psycopg.connect(
        host=HOST,
        port=stack.config["ports"]["postgres"],
        dbname=dbname,
        user=AIRFLOW_ROLE,
        password=stack.config["secrets"]["airflow_db_password"],
    )


def _tables(conn) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {name for (name,) in rows}


def test_a_restored_template_is_the_migrated_head(stack) -> None:
    from airflow.utils.db import _get_script_object

    cluster = stack._postgres(stack.config)
    template = template_path(cluster.major)
    assert template.exists(), "the session's stack made the template, or used it"
    name = f"af_{uuid.uuid4().hex[:12]}"
    cluster.ensure_database(
        name, owner=AIRFLOW_ROLE, password=stack.config["secrets"]["airflow_db_password"]
    )
    try:
        cluster.restore_database(name, template.read_bytes(), owner=AIRFLOW_ROLE)
        with _connect(stack, name) as restored, _connect(stack, AIRFLOW_DB) as session:
            (revision,) = restored.execute("SELECT version_num FROM alembic_version").fetchone()
            assert revision == _get_script_object().get_current_head()
            assert _tables(restored) == _tables(session)
            assert ("default_pool",) in restored.execute("SELECT pool FROM slot_pool").fetchall()
            owners = restored.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            assert owners == [(AIRFLOW_ROLE,)]
            assert restored.execute("SELECT count(*) FROM dag_run").fetchone() == (0,)
    finally:
        cluster.drop_database(name)
