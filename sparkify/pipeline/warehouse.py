"""The warehouse connection: which dialect it speaks, and a DB-API hook for it.

Values are bound the same way on both warehouses: the SQL says ``%(name)s`` (and, in a
few inline statements, ``%s``), which psycopg takes as it is. ``redshift_connector`` reads
its *module-wide* ``paramstyle`` (``format`` by default: ``%s`` only) when a cursor is
made, so every way a task reaches a Redshift hook goes through ``prepared`` here, which
switches the module to ``pyformat`` first: ``hook()``, and the ``get_db_hook`` of the
common-sql based operators (``SqlFileOperator``, the check operators).

Why switch the module rather than rewrite ``%(name)s`` into positional ``%s`` for Redshift:
one SQL text serves both dialects, the provider's own operators hand our mapping straight
to ``cursor.execute`` (a mapping under ``format`` would bind its *keys*), and ``pyformat``
also accepts the positional ``%s`` statements. Each task runs in its own process, which
reaches the warehouse only through this module, so the switch cannot surprise other code.
One trap remains, tested in ``tests/unit/test_redshift_binding.py``: redshift_connector's
scanner falls back to ``format`` for the rest of a statement after a bare ``%`` (``%%``),
so a statement must not mix ``%%`` with ``%(name)s``.
"""

from __future__ import annotations

from typing import Any

from sparkify.pipeline.settings import WAREHOUSE_CONN_ID, WAREHOUSE_READ_CONN_ID

DIALECT_BY_CONN_TYPE = {"postgres": "postgres", "redshift": "redshift"}


def hook(conn_id: str = WAREHOUSE_CONN_ID) -> Any:
    """The provider hook for the warehouse connection (``PostgresHook`` or ``RedshiftSQLHook``)."""
    from airflow.sdk import BaseHook

    connection = BaseHook.get_connection(conn_id)
    dialect_of(connection.conn_type)
    return prepared(connection.get_hook())


def reader_hook() -> Any:
    """The hook for readers that never write (the health page, ``sparkify report``): the
    ``warehouse_read`` connection, a user with ``SELECT`` only (the grants are in the
    manual's Security page); without it, ``warehouse``, with a warning in the log."""
    import logging

    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return hook(WAREHOUSE_READ_CONN_ID)
    except AirflowNotFoundException:
        logging.getLogger(__name__).warning(
            "no %r connection: reading the warehouse through %r, which may write; "
            "give readers a SELECT-only user (docs/security.md)",
            WAREHOUSE_READ_CONN_ID,
            WAREHOUSE_CONN_ID,
        )
        return hook(WAREHOUSE_CONN_ID)


REDSHIFT_PARAMSTYLE = "pyformat"


def bind_named_parameters() -> None:
    """Make ``redshift_connector`` take ``%(name)s`` (and ``%s``) in this process."""
    import redshift_connector

    redshift_connector.paramstyle = REDSHIFT_PARAMSTYLE


def prepared(db_hook: Any) -> Any:
    """``db_hook``, after making sure its driver binds parameters as our SQL writes them."""
    if hook_dialect(db_hook) == "redshift":
        bind_named_parameters()
    return db_hook


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


def is_serverless(db_hook: Any) -> bool:
    """Whether the Redshift connection is a Serverless workgroup (its ``is_serverless`` extra,
    the amazon provider's own switch): Serverless has no ``stl_`` system tables."""
    connection = getattr(db_hook, "connection", None)
    extra = getattr(connection, "extra_dejson", None) or {}
    value = extra.get("is_serverless", False)
    return value is True or str(value).lower() == "true"
