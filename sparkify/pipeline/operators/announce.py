"""Emit a staging run's Asset, after the staging task, one emission at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class AnnounceOperator(BaseOperator):
    """Emit the outlets for the run's partition key, with the staging task's counts (its
    return value) as the events' ``extra``.

    A task of its own, in a one-slot pool (``ANNOUNCE_POOL``), so that no two of these
    emissions commit at the same moment; why: ``sparkify.pipeline.pools``.

    :param staged_by: the task whose return value the events carry
    """

    template_fields: Sequence[str] = ()
    ui_color = "#eaf2f8"

    def __init__(self, *, staged_by: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.staged_by = staged_by

    def execute(self, context: Context) -> dict[str, Any] | None:
        extra = context["ti"].xcom_pull(task_ids=self.staged_by)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = extra or {}
        self.log.info(
            "Emitting %s for %s",
            ", ".join(o.name for o in self.outlets),
            context["dag_run"].partition_key,
        )
        return extra
