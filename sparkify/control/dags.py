"""The pipeline's DAGs as the REST API sees them: ids, look-ups, pausing, single runs."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sparkify.errors import CliError

if TYPE_CHECKING:
    from sparkify.control.api import ApiClient

STAGING_DAGS = ("stage_events", "stage_songs")
ASSET_DAGS = ("model", "quality")
PIPELINE_DAGS = (*STAGING_DAGS, *ASSET_DAGS)
DAG_CHOICES = (*PIPELINE_DAGS, "all")
# What a backfill of each choice sets running, i.e. what to wait for. Backfilling one
# staging DAG alone does not start ``model``: that needs both staged events for the hour.
WAIT_FOR = {
    "all": PIPELINE_DAGS,
    "stage_events": ("stage_events",),
    "stage_songs": ("stage_songs",),
    "model": ("model", "quality"),
    "quality": ("quality",),
}
FINISHED = ("success", "failed")
ACTIVE = ("queued", "running")
PAGE_LIMIT = 100  # the API server's default maximum_page_limit
# A run's end_date is stamped before its transaction commits: look this far behind the
# newest end_date seen, so that a run committed late is not missed by an incremental poll.
_END_DATE_SLACK = timedelta(minutes=2)


class BackfillError(CliError):
    """A backfill could not be started, or did not finish."""


class PartitionWaitError(BackfillError):
    """Not every partition finished (in time, or without a retry); ``latest`` holds what did."""

    def __init__(self, message: str, latest: dict[str, dict[str, dict]]) -> None:
        super().__init__(message)
        self.latest = latest


def dag_info(client: ApiClient, dag_id: str) -> dict[str, Any]:
    """``GET /dags/{dag_id}``, with an error that says what to look at when it is missing."""
    from sparkify.control.api import ApiError

    try:
        return client.get(f"/dags/{dag_id}")
    except ApiError as exc:
        if exc.status_code != 404:
            raise
    errors = client.get("/importErrors", limit=PAGE_LIMIT).get("import_errors", [])
    detail = "; ".join(f"{e['filename']}: {e['stack_trace'].strip()[-300:]}" for e in errors)
    raise BackfillError(
        f"DAG {dag_id} is not known to Airflow"
        + (f" (import errors: {detail})" if detail else " (not parsed yet?)")
    )


def wait_for_dags(client: ApiClient, dag_ids: Iterable[str], *, timeout: float = 120.0) -> None:
    """Wait until the dag-processor has parsed every DAG in ``dag_ids``."""
    deadline = time.monotonic() + timeout
    for dag_id in dag_ids:
        while True:
            try:
                dag_info(client, dag_id)
                break
            except BackfillError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)


def unpause(client: ApiClient, dag_ids: Iterable[str]) -> list[str]:
    """Unpause the paused DAGs among ``dag_ids``; returns those it unpaused."""
    changed = []
    for dag_id in dag_ids:
        if dag_info(client, dag_id)["is_paused"]:
            client.patch(f"/dags/{dag_id}", json={"is_paused": False}, update_mask="is_paused")
            changed.append(dag_id)
    return changed


def paused(client: ApiClient, dag_ids: Iterable[str]) -> list[str]:
    return [dag_id for dag_id in dag_ids if dag_info(client, dag_id)["is_paused"]]


def trigger_and_wait(
    client: ApiClient, dag_id: str, *, timeout: float = 300.0, poll_interval: float = 1.0
) -> dict[str, Any]:
    """Trigger an unpartitioned DAG (``setup``) and wait for the run to finish."""
    run = client.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
    deadline = time.monotonic() + timeout
    while run["state"] not in FINISHED:
        if time.monotonic() > deadline:
            raise BackfillError(f"{dag_id} run {run['dag_run_id']} not finished in {timeout:.0f}s")
        time.sleep(poll_interval)
        run = client.get(f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}")
    return run


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
