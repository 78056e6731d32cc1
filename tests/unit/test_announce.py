"""The staging DAGs' announce task, and the pools the stack creates for it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors
from airflow.sdk.execution_time.task_runner import _serialize_outlet_events

from sparkify.control.api import ApiError
from sparkify.control.pools import ensure_pools
from sparkify.pipeline import assets, pools
from sparkify.pipeline.operators.announce import AnnounceOperator


class TaskInstance:
    def __init__(self, returned):
        self.returned = returned
        self.pulled: list[str] = []

    def xcom_pull(self, task_ids: str):
        self.pulled.append(task_ids)
        return self.returned


def announce(returned) -> tuple[list[dict], TaskInstance]:
    outlet_events = OutletEventAccessors()
    ti = TaskInstance(returned)
    context = {
        "ti": ti,
        "outlet_events": outlet_events,
        "dag_run": SimpleNamespace(partition_key="2018-11-13T05:00:00"),
    }
    op = AnnounceOperator(
        task_id="announce", staged_by="stage_events", outlets=[assets.staged_events]
    )
    assert op.execute(context) == returned
    return list(_serialize_outlet_events(outlet_events)), ti


def test_the_event_carries_the_staging_tasks_counts() -> None:
    counts = {"partition_key": "2018-11-13T05:00:00", "rows_staged": 12, "rejected": 0}
    emitted, ti = announce(counts)
    assert ti.pulled == ["stage_events"]
    assert [(e["dest_asset_key"]["name"], e["extra"]) for e in emitted] == [
        ("staged_events", counts)
    ]


def test_nothing_returned_is_an_empty_extra() -> None:
    emitted, _ = announce(None)
    assert [e["extra"] for e in emitted] == [{}]


class FakePools:
    """``GET``/``POST``/``PATCH`` of ``/pools`` as the REST API answers them."""

    def __init__(self, existing: dict[str, dict]) -> None:
        self.pools = existing
        self.calls: list[tuple] = []

    def get(self, path: str):
        name = path.rsplit("/", 1)[1]
        self.calls.append(("GET", name))
        if name not in self.pools:
            raise ApiError("GET", path, 404, "not found")
        return self.pools[name]

    def post(self, path: str, body: dict):
        self.calls.append(("POST", body["name"]))
        self.pools[body["name"]] = body
        return body

    def patch(self, path: str, body: dict, **params):
        name = path.rsplit("/", 1)[1]
        self.calls.append(("PATCH", name, body, params))
        self.pools[name].update(body)
        return self.pools[name]


def test_a_missing_pool_is_created_with_one_slot() -> None:
    client = FakePools({})
    assert ensure_pools(client) == ["sparkify_announce"]
    assert client.pools["sparkify_announce"]["slots"] == 1
    assert "71070" in client.pools["sparkify_announce"]["description"]


def test_a_pool_with_other_slots_is_put_back_to_one() -> None:
    client = FakePools({"sparkify_announce": {"name": "sparkify_announce", "slots": 8}})
    assert ensure_pools(client) == ["sparkify_announce"]
    assert client.calls[-1] == (
        "PATCH", "sparkify_announce", {"slots": 1}, {"update_mask": "slots"}
    )  # fmt: skip
    # Right already: nothing to do.
    assert ensure_pools(client) == []


def test_other_api_errors_are_not_taken_for_a_missing_pool() -> None:
    class Failing(FakePools):
        def get(self, path: str):
            raise ApiError("GET", path, 403, "forbidden")

    with pytest.raises(ApiError, match="403"):
        ensure_pools(Failing({}))
    assert pools.POOLS == (pools.ANNOUNCE_POOL,)
