"""Run one or several of the project's SQL files against the warehouse, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from sparkify.pipeline import partitions
from sparkify.pipeline.serialization import retrying
from sparkify.pipeline.settings import WAREHOUSE_CONN_ID
from sparkify.pipeline.sql import MODES, render, statements
from sparkify.pipeline.warehouse import hook_dialect, prepared

if TYPE_CHECKING:
    from airflow.sdk import Context


class SqlFileOperator(SQLExecuteQueryOperator):
    """Render ``sql/<sql_file>[.<dialect>].sql`` at run time and execute it in one transaction.

    A thin house default over common-sql's ``SQLExecuteQueryOperator``: the dialect comes from
    the warehouse connection's type, and, when ``partitioned`` is set, the run's window is
    bound as ``%(window_start)s`` and ``%(window_end)s`` (end exclusive; one hour or a range,
    ``sparkify.pipeline.partitions.Window``) and its first hour as ``%(partition_hour)s``.
    Several files run in the order given, all in the one transaction: either every one of
    them is applied or none is. A transaction that
    Redshift aborts as a serializable isolation violation is run again
    (``sparkify.pipeline.serialization``).

    :param sql_file: path under ``sql/`` without the ``.sql`` suffix, e.g. ``load/load_users``,
        or a sequence of such paths
    :param mode: for dimension loads: ``upsert``, ``truncate_insert`` or ``append``
    :param partitioned: bind the run's window (``window_start``, ``window_end``)
    """

    template_fields: Sequence[str] = ("sql_file", "mode", *SQLExecuteQueryOperator.template_fields)

    def __init__(
        self,
        *,
        sql_file: str | Sequence[str],
        mode: str | None = None,
        partitioned: bool = True,
        conn_id: str = WAREHOUSE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("do_xcom_push", False)
        super().__init__(
            sql="", conn_id=conn_id, autocommit=False, split_statements=False, **kwargs
        )
        if mode is not None and mode not in MODES and "{{" not in mode:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.sql_file = sql_file if isinstance(sql_file, str) else list(sql_file)
        self.mode = mode
        self.partitioned = partitioned

    def get_db_hook(self) -> Any:
        return prepared(super().get_db_hook())

    def execute(self, context: Context) -> Any:
        dialect = hook_dialect(self.get_db_hook())
        extra = {"mode": self.mode} if self.mode else {}
        files = [self.sql_file] if isinstance(self.sql_file, str) else self.sql_file
        self.sql = [sql for name in files for sql in statements(render(name, dialect, **extra))]
        named = ", ".join(files)
        if self.partitioned:
            window = partitions.parse_window(context["dag_run"].partition_key)
            self.parameters = window.params()
            self.log.info(
                "Running %s (%s) for %s (%d hour(s))", named, dialect, window.key, len(window)
            )
        else:
            self.log.info("Running %s (%s)", named, dialect)
        # Each attempt is the whole transaction on a new connection: a serialization failure
        # (Redshift's 1023) rolled all of it back, so it is simply run again.
        return retrying(lambda: super(SqlFileOperator, self).execute(context), what=named)
