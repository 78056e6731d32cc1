"""The warehouse connection: which dialect it speaks, and a DB-API hook for it."""

from __future__ import annotations

from typing import Any

from sparkify.pipeline.settings import WAREHOUSE_CONN_ID

DIALECT_BY_CONN_TYPE = {"postgres": "postgres", "redshift": "redshift"}


def hook(conn_id: str = WAREHOUSE_CONN_ID) -> Any:
    """The provider hook for the warehouse connection (``PostgresHook`` or ``RedshiftSQLHook``)."""
    from airflow.sdk import BaseHook

    connection = BaseHook.get_connection(conn_id)
    dialect_of(connection.conn_type)
    return connection.get_hook()


def dialect_of(conn_type: str | None) -> str:
    try:
        return DIALECT_BY_CONN_TYPE[conn_type or ""]
    except KeyError:
        raise ValueError(
            f"the warehouse connection has type {conn_type!r}; "
            f"expected one of {sorted(DIALECT_BY_CONN_TYPE)}"
        ) from None


def hook_dialect(db_hook: Any) -> str:
    return dialect_of(getattr(db_hook, "conn_type", None))
