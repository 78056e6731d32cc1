"""Reconcile a window: every line read is accounted for, every play staged is loaded.

Per hour: lines read (counted from the objects' bytes when staged) must equal the rows
``staging_events`` holds for the hour now, plus the rejects ``staging_rejects`` holds, plus
the duplicates staging detected; NextSong events staged must equal the hour's plays. The
window passes when every one of its hours does; a failure names the hours.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from sparkify.pipeline import partitions
from sparkify.pipeline.records import CHECK_VALUE_BYTES, drift_json
from sparkify.pipeline.settings import WAREHOUSE_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

HOUR_COLUMNS = (
    "partition_hour",
    "rows_read",
    "rows_staged",
    "rows_rejected",
    "rows_duplicate",
    "drift",
    "nextsong_staged",
    "plays",
    "plays_matched",
)
SUMMED = ("rows_read", "rows_staged", "rows_rejected", "rows_duplicate")
SUMMED += ("nextsong_staged", "plays", "plays_matched")
# Hours a failed check names in its value; the rest are counted.
NAMED_HOURS = 5


def window_numbers(
    hour_rows: Sequence[Sequence[Any]], expected_hours: int, freshness_row: Sequence[Any]
) -> dict[str, Any]:
    """The window's totals and its hours that do not reconcile, from the per-hour rows of
    ``sql/checks/reconcile_partition.sql`` and the row of ``read_freshness.sql``."""
    rows = [dict(zip(HOUR_COLUMNS, row, strict=True)) for row in hour_rows]
    numbers: dict[str, Any] = {name: sum(int(r[name]) for r in rows) for name in SUMMED}
    drift: dict[str, dict[str, int]] = {}
    for r in rows:
        for kind, fields in json.loads(r["drift"] or "{}").items():
            merged = drift.setdefault(kind, {})
            for name, n in fields.items():
                merged[name] = merged.get(name, 0) + int(n)
    numbers["drift"] = json.dumps(drift)
    numbers["staged_runs"] = len(rows)
    numbers["staged_hours"] = len({r["partition_hour"] for r in rows})
    numbers["expected_runs"] = expected_hours
    numbers["lines_off"] = [
        (r["partition_hour"], int(r["rows_read"]), accounted(r))
        for r in rows
        if int(r["rows_read"]) != accounted(r)
    ]
    numbers["plays_off"] = [
        (r["partition_hour"], int(r["plays"]), int(r["nextsong_staged"]))
        for r in rows
        if int(r["plays"]) != int(r["nextsong_staged"])
    ]
    numbers["newest_with_events"], numbers["first_hour"] = freshness_row
    return numbers


def accounted(numbers: dict[str, Any]) -> int:
    return (
        int(numbers["rows_staged"]) + int(numbers["rows_rejected"]) + int(numbers["rows_duplicate"])
    )


def _named(off: list[tuple[datetime, int, int]], what: str) -> str:
    """``; off in <hour> (<what> a vs b), ...`` for the hours listed, at most NAMED_HOURS."""
    if not off:
        return ""
    shown = ", ".join(
        f"{hour.strftime(partitions.KEY_FORMAT)} ({what} {a} vs {b})"
        for hour, a, b in off[:NAMED_HOURS]
    )
    more = f" and {len(off) - NAMED_HOURS} more" if len(off) > NAMED_HOURS else ""
    return f"; off in {shown}{more}"


def evaluate(
    numbers: dict[str, Any],
    max_reject_rate: float,
    reasons: list[tuple[str, int]],
    *,
    hour: datetime,
    max_age_hours: int,
):
    """The window's reconciliation checks as ``(name, value, passed)``; pure, for tests.

    ``numbers`` holds the window's totals (``window_numbers``; a one-hour window's are its
    hour's). Every hour of the window must have been staged once (``expected_runs``, 1 if
    absent), and, where ``lines_off`` and ``plays_off`` list hours, those fail their check
    even when the totals happen to agree. ``hour`` is the window's last hour (naive UTC).
    Freshness: the newest hour at or before it that staged any event (or, with none yet, the
    first hour the pipeline staged) may be at most ``max_age_hours`` older.
    """
    read = int(numbers["rows_read"])
    total = accounted(numbers)
    lines_off = numbers.get("lines_off", [])
    plays_off = numbers.get("plays_off", [])
    expected = int(numbers.get("expected_runs", 1))
    runs = int(numbers["staged_runs"])
    hours = int(numbers.get("staged_hours", runs))
    rate = int(numbers["rows_rejected"]) / read if read else 0.0
    plays = int(numbers["plays"])
    drift = json.loads(numbers["drift"] or "{}")
    drifted = {k: v for k, v in drift.items() if v}
    reason_text = ", ".join(f"{r} ({n})" for r, n in reasons) or "none"
    staged_value = str(runs) if expected == 1 else f"{runs} run(s) for {expected} hour(s)"
    return [
        ("events_staged", staged_value, runs == expected and hours == expected),
        (
            "lines_reconcile",
            f"read {read} = staged+rejected+duplicate {total}"
            + _named(lines_off, "read vs accounted"),
            read == total and not lines_off,
        ),
        (
            "plays_equal_nextsong_staged",
            f"plays {plays}, NextSong staged {int(numbers['nextsong_staged'])}"
            + _named(plays_off, "plays vs NextSong"),
            plays == int(numbers["nextsong_staged"]) and not plays_off,
        ),
        (
            "reject_rate",
            f"{rate:.4f} (max {max_reject_rate}); commonest: {reason_text}",
            rate <= max_reject_rate,
        ),
        # Reported, not failed: drift is a producer change to look at, not lost data.
        ("schema_drift", drift_json(drifted, CHECK_VALUE_BYTES), True),
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
    """Check that the run's window (an hour or a range) reconciles, hour by hour; record
    every outcome in ``check_results`` with the window it judged.

    Fails, naming each failed check, the values found and the hours that are off, when an
    hour of the window was not staged once, when lines read differ from staged + rejected +
    duplicate (each counted on its own), when plays differ from NextSong events staged, or when the
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
        from sparkify.pipeline.operators.checks import record_results, window_columns
        from sparkify.pipeline.sql import render, statements
        from sparkify.pipeline.warehouse import hook, hook_dialect

        db_hook = hook(self.conn_id)
        dialect = hook_dialect(db_hook)
        window = partitions.parse_window(context["dag_run"].partition_key)
        params = window.params()
        settings = settings_module.current()
        max_rate = self.max_reject_rate
        if max_rate is None:
            max_rate = settings.max_reject_rate
        max_age = self.freshness_max_age_hours
        if max_age is None:
            max_age = settings.freshness_max_age_hours

        def records(name: str) -> list[Any]:
            (query,) = statements(render(name, dialect))
            return db_hook.get_records(query, parameters=params)

        hour_rows = records("checks/reconcile_partition")
        (freshness_row,) = records("checks/read_freshness")
        numbers = window_numbers(hour_rows, len(window), freshness_row)
        reasons = [(r, int(n)) for r, n in records("checks/commonest_rejects")]
        outcomes = evaluate(
            numbers,
            float(max_rate),
            reasons,
            hour=partitions.naive_utc(window.last_hour),
            max_age_hours=int(max_age),
        )
        where = window_columns(window)
        record_results(
            db_hook,
            [
                {
                    "check_name": name,
                    "table_name": "staging_partitions",
                    **where,
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
                f"Partition {window.key} does not reconcile: " + "; ".join(failed)
            )
        return {name: str(value) for name, value, _ in outcomes}
