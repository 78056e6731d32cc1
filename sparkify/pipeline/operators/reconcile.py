"""Reconcile a partition: every line read is accounted for, every play staged is loaded."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from sparkify.pipeline import partitions
from sparkify.pipeline.settings import WAREHOUSE_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context


def evaluate(
    numbers: dict[str, Any],
    max_reject_rate: float,
    reasons: list[tuple[str, int]],
    *,
    hour: datetime,
    max_age_hours: int,
):
    """The partition's reconciliation checks as ``(name, value, passed)``; pure, for tests.

    ``hour`` is the partition (naive UTC). Freshness: the newest hour at or before it that
    staged any event (or, with none yet, the first hour the pipeline staged) may be at most
    ``max_age_hours`` older.
    """
    read = int(numbers["rows_read"])
    accounted = (
        int(numbers["rows_staged"]) + int(numbers["rows_rejected"]) + int(numbers["rows_duplicate"])
    )
    rate = int(numbers["rows_rejected"]) / read if read else 0.0
    plays = int(numbers["plays"])
    drift = json.loads(numbers["drift"] or "{}")
    drifted = {k: v for k, v in drift.items() if v}
    reason_text = ", ".join(f"{r} ({n})" for r, n in reasons) or "none"
    return [
        ("events_staged", int(numbers["staged_runs"]), int(numbers["staged_runs"]) == 1),
        (
            "lines_reconcile",
            f"read {read} = staged+rejected+duplicate {accounted}",
            read == accounted,
        ),
        (
            "plays_equal_nextsong_staged",
            f"plays {plays}, NextSong staged {int(numbers['nextsong_staged'])}",
            plays == int(numbers["nextsong_staged"]),
        ),
        (
            "reject_rate",
            f"{rate:.4f} (max {max_reject_rate}); commonest: {reason_text}",
            rate <= max_reject_rate,
        ),
        # Reported, not failed: drift is a producer change to look at, not lost data.
        ("schema_drift", json.dumps(drifted, sort_keys=True), True),
        freshness(numbers, hour, max_age_hours),
        (
            "plays_matched_share",
            f"{int(numbers['plays_matched']) / plays:.4f}" if plays else "no plays",
            True,
        ),
    ]


def freshness(numbers: dict[str, Any], hour: datetime, max_age_hours: int):
    """``(name, value, passed)`` of the freshness check: how far the data lags the hour."""
    newest = numbers["newest_with_events"] or numbers["first_hour"] or hour
    age = int((hour - newest) / partitions.HOUR)
    what = "newest hour with events" if numbers["newest_with_events"] else "first hour staged"
    value = (
        f"{what} {newest.strftime(partitions.KEY_FORMAT)}, {age} h before (max {max_age_hours} h)"
    )
    return ("freshness", value, age <= max_age_hours)


class ReconcilePartitionOperator(BaseOperator):
    """Check that partition H reconciles; record every outcome in ``check_results``.

    Fails, naming each failed check and the values found, when lines read differ from
    staged + rejected + duplicate, when plays differ from NextSong events staged, or when the
    reject rate passes ``max_reject_rate`` (default from settings; the commonest reasons are
    named), or when no event was staged for more than ``freshness_max_age_hours`` (default
    from settings) up to the partition. A failed check fails the task at once, without
    retries: the data will not change by waiting. Database errors still retry.
    """

    template_fields = ("max_reject_rate", "freshness_max_age_hours")

    def __init__(
        self,
        *,
        max_reject_rate: float | None = None,
        freshness_max_age_hours: int | None = None,
        conn_id: str = WAREHOUSE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_reject_rate = max_reject_rate
        self.freshness_max_age_hours = freshness_max_age_hours
        self.conn_id = conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from sparkify.pipeline import settings as settings_module
        from sparkify.pipeline.operators.checks import record_results
        from sparkify.pipeline.sql import render, statements
        from sparkify.pipeline.warehouse import hook, hook_dialect

        db_hook = hook(self.conn_id)
        dialect = hook_dialect(db_hook)
        hour = partitions.parse_key(context["dag_run"].partition_key)
        params = {"partition_hour": partitions.naive_utc(hour)}
        settings = settings_module.current()
        max_rate = self.max_reject_rate
        if max_rate is None:
            max_rate = settings.max_reject_rate
        max_age = self.freshness_max_age_hours
        if max_age is None:
            max_age = settings.freshness_max_age_hours
        (query,) = statements(render("checks/reconcile_partition", dialect))
        row = db_hook.get_records(query, parameters=params)[0]
        names = (
            "rows_read",
            "rows_staged",
            "rows_rejected",
            "rows_duplicate",
            "drift",
            "nextsong_staged",
            "plays",
            "plays_matched",
            "staged_runs",
            "newest_with_events",
            "first_hour",
        )
        numbers = dict(zip(names, row, strict=True))
        (reasons_sql,) = statements(render("checks/commonest_rejects", dialect))
        reasons = [(r, int(n)) for r, n in db_hook.get_records(reasons_sql, parameters=params)]
        outcomes = evaluate(
            numbers,
            float(max_rate),
            reasons,
            hour=params["partition_hour"],
            max_age_hours=int(max_age),
        )
        record_results(
            db_hook,
            [
                {
                    "check_name": name,
                    "table_name": "staging_partitions",
                    "partition_hour": params["partition_hour"],
                    "value": str(value),
                    "passed": ok,
                }
                for name, value, ok in outcomes
            ],
        )
        for name, value, ok in outcomes:
            self.log.info("%s %s: %s", "PASS" if ok else "FAIL", name, value)
        failed = [f"{name}: {value}" for name, value, ok in outcomes if not ok]
        if failed:
            raise AirflowFailException(
                f"Partition {partitions.format_key(hour)} does not reconcile: " + "; ".join(failed)
            )
        return {name: str(value) for name, value, _ in outcomes}
