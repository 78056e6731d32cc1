"""Data quality checks per partition: common-sql's check operators, with their outcomes recorded.

Both subclasses are thin: they run the provider's checks unchanged, then write one row per
check to ``check_results`` (check, table, partition, value, passed) whether it passed or not,
and fail with a message that names the table, the partition, each failed check and the value
it found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.sql.operators.sql import (
    SQLColumnCheckOperator,
    SQLTableCheckOperator,
)
from airflow.sdk.exceptions import AirflowFailException

from sparkify.pipeline import partitions
from sparkify.pipeline.settings import WAREHOUSE_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context


def in_window(key: str, column: str) -> str:
    """Jinja filter: ``column`` within the run's window (an hour or a range), as SQL text.

    The bounds are literals, not parameters, because common-sql's check operators take
    SQL text only; they come from ``parse_window``, which accepts nothing but whole-hour
    keys in ``KEY_FORMAT``, so no text of the key itself reaches the SQL.
    """
    window = partitions.parse_window(key)
    return (
        f"{column} >= {partitions.sql_literal(window.start)} "
        f"AND {column} < {partitions.sql_literal(window.end)}"
    )


JINJA_FILTERS = {"in_window": in_window}


def window_columns(window: partitions.Window | None) -> dict[str, Any]:
    """Which window a ``check_results`` row judged: its first hour (``partition_hour``),
    its end (exclusive) and the run's partition key; all None for an unpartitioned run."""
    if window is None:
        return {"partition_hour": None, "window_end": None, "partition_key": None}
    params = window.params()
    return {
        "partition_hour": params["window_start"],
        "window_end": params["window_end"],
        "partition_key": window.key,
    }


def record_results(hook: Any, rows: list[dict[str, Any]]) -> None:
    """Write check outcomes to ``check_results`` in one transaction."""
    if not rows:
        return
    from sparkify.pipeline.sql import render, statements
    from sparkify.pipeline.warehouse import prepared

    (insert_result,) = statements(render("checks/record_result"))
    conn = prepared(hook).get_conn()
    try:
        with conn.cursor() as cur:
            cur.executemany(insert_result, rows)
        conn.commit()
    finally:
        conn.close()


class _Recorded:
    """Mixin: record outcomes and raise a message naming table, partition, check and value."""

    table: str

    def _window(self, context: Context) -> partitions.Window | None:
        key = context["dag_run"].partition_key
        return partitions.parse_window(key) if key else None

    def _outcomes(self) -> list[tuple[str, Any, bool]]:
        raise NotImplementedError

    def get_db_hook(self) -> Any:
        from sparkify.pipeline.warehouse import prepared

        return prepared(super().get_db_hook())  # type: ignore[misc]

    def _describe(self, name: str, value: Any) -> str:
        return f"{name} found {value!r}"

    def execute(self, context: Context) -> None:
        try:
            super().execute(context)  # type: ignore[misc]
        finally:
            window = self._window(context)
            rows = [
                {
                    "check_name": name,
                    "table_name": self.table,
                    **window_columns(window),
                    "value": None if value is None else str(value),
                    "passed": passed,
                }
                for name, value, passed in self._outcomes()
            ]
            record_results(self.get_db_hook(), rows)  # type: ignore[attr-defined]

    def _raise_exception(self, exception_string: str) -> None:
        failed = [
            self._describe(name, value) for name, value, passed in self._outcomes() if not passed
        ]
        summary = "; ".join(failed) if failed else exception_string
        # AirflowFailException: a failed check is a finding, not a transient fault, so the
        # task fails now instead of retrying against the same data. Database errors still
        # raise other exceptions and retry.
        raise AirflowFailException(f"Quality check failed on table {self.table}: {summary}")


class PartitionColumnCheckOperator(_Recorded, SQLColumnCheckOperator):
    """``SQLColumnCheckOperator`` whose outcomes land in ``check_results``."""

    def __init__(self, *, conn_id: str = WAREHOUSE_CONN_ID, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)

    def _outcomes(self) -> list[tuple[str, Any, bool]]:
        return [
            (f"{column}.{check}", values.get("result"), bool(values.get("success")))
            for column, checks in self.column_mapping.items()
            for check, values in checks.items()
            if "success" in values
        ]


class PartitionTableCheckOperator(_Recorded, SQLTableCheckOperator):
    """``SQLTableCheckOperator`` whose outcomes land in ``check_results``."""

    def __init__(self, *, conn_id: str = WAREHOUSE_CONN_ID, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)

    def _outcomes(self) -> list[tuple[str, Any, bool]]:
        return [
            (name, values.get("result"), bool(values.get("success")))
            for name, values in self.checks.items()
            if "success" in values
        ]

    def _describe(self, name: str, value: Any) -> str:
        # A table check's result is its statement's truth (1 or 0), not a measured value.
        return f"{name} is false"
