"""Backfill and demo without a stack: ranges, requests sent, polling, the summary's shape."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from sparkify import control as bf
from sparkify.cli.main import build_parser
from sparkify.control.api import ApiError
from sparkify.local import demo
from sparkify.pipeline import partitions

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def key(hour: int, day: int = 1) -> str:
    return f"2018-11-{day:02d}T{hour:02d}:00:00"


def run(dag_id, k, state, *, end=None, start=None, run_id=None, **extra) -> dict[str, Any]:
    return {
        "dag_id": dag_id,
        "dag_run_id": run_id or f"{dag_id}-{k}-{state}-{end}",
        "partition_key": k,
        "state": state,
        "start_date": start,
        "end_date": end,
        "queued_at": start,
        **extra,
    }


class FakeApi:
    """Answers the few ``/api/v2`` calls the backfill module makes, from in-memory runs."""

    def __init__(self, runs: dict[str, list[dict]] | None = None, dags: dict | None = None):
        self.runs = runs or {}
        self.dags = (
            {d: {"is_paused": False, "max_active_runs": 4} for d in bf.DAG_CHOICES}
            if dags is None
            else dags
        )
        self.calls: list[tuple[str, str, Any]] = []
        self.post_errors: list[ApiError] = []
        self.backfills: list[dict] = []
        self.retrying: list[dict] = []

    def get(self, path: str, **params):
        self.calls.append(("GET", path, params))
        parts = path.strip("/").split("/")
        if parts[0] == "importErrors":
            return {"import_errors": []}
        if parts[0] == "backfills":
            return {"backfills": self.backfills}
        if len(parts) == 2:
            if parts[1] not in self.dags:
                raise ApiError("GET", path, 404, "not found")
            return self.dags[parts[1]]
        if parts[2] == "dagRuns" and len(parts) == 3:
            return self._runs(parts[1], params)
        if parts[-1] == "taskInstances":
            return {"task_instances": self.retrying}
        raise AssertionError(f"unexpected GET {path}")

    def _runs(self, dag_id: str, params: dict) -> dict:
        runs = self.runs.get(dag_id, [])
        if prefix := params.get("partition_key_prefix_pattern"):
            runs = [r for r in runs if (r["partition_key"] or "").startswith(prefix)]
        if states := params.get("state"):
            runs = [r for r in runs if r["state"] in states]
        if run_type := params.get("run_type"):
            runs = [r for r in runs if r.get("run_type") == run_type]
        if floor := params.get("end_date_gte"):
            runs = [r for r in runs if r["end_date"] and r["end_date"] >= floor]
        limit = params.get("limit", 50)
        offset = int(params.get("cursor") or 0)
        page = runs[offset : offset + limit]
        more = offset + limit < len(runs)
        return {
            "dag_runs": page,
            "total_entries": len(runs),
            "next_cursor": str(offset + limit) if more else None,
        }

    def post(self, path: str, json=None):
        self.calls.append(("POST", path, json))
        if self.post_errors:
            raise self.post_errors.pop(0)
        if path == "/backfills":
            self.backfills.append({"id": len(self.backfills) + 1, "completed_at": None})
            return {"id": self.backfills[-1]["id"], "created_at": "2026-01-01T12:00:00Z"}
        return {
            "dag_run_id": json.get("dag_run_id") or "manual__x",
            "state": "queued",
            "run_after": "2026-01-01T12:00:01Z",
        }

    def patch(self, path: str, json=None, **params):
        self.calls.append(("PATCH", path, json))
        self.dags[path.split("/")[2]]["is_paused"] = json["is_paused"]
        return {}

    def posted(self, path: str) -> list[Any]:
        return [body for method, p, body in self.calls if method == "POST" and p == path]


# -- ranges --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-11-02", date(2018, 11, 2)),
        ("2018-11-02T13", datetime(2018, 11, 2, 13, tzinfo=UTC)),
        ("2018-11-02T05:00", datetime(2018, 11, 2, 5, tzinfo=UTC)),
        ("2018-11-02T05:00:00Z", datetime(2018, 11, 2, 5, tzinfo=UTC)),
    ],
)
def test_parse_when_takes_days_and_hours(text, expected):
    assert bf.parse_when(text) == expected


@pytest.mark.parametrize("text", ["2018-11-02T24", "2018-11-02T05:30", "11/02/2018", "2018-13-01"])
def test_parse_when_refuses_what_is_not_a_day_or_an_hour(text):
    with pytest.raises(ValueError, match=r"."):
        bf.parse_when(text)


def test_hour_range_covers_whole_days_inclusive():
    hours = bf.hour_range(date(2018, 11, 1), date(2018, 11, 3), now=T0)
    assert len(hours) == 72
    assert hours[0] == datetime(2018, 11, 1, tzinfo=UTC)
    assert hours[-1] == datetime(2018, 11, 3, 23, tzinfo=UTC)


def test_hour_range_of_hours_and_of_a_day_and_an_hour():
    first, last = datetime(2018, 11, 1, 22, tzinfo=UTC), datetime(2018, 11, 2, 3, tzinfo=UTC)
    assert len(bf.hour_range(first, last, now=T0)) == 6
    assert len(bf.hour_range(date(2018, 11, 1), last, now=T0)) == 28


def test_hour_range_leaves_out_hours_not_over_yet():
    now = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    hours = bf.hour_range(date(2026, 1, 1), date(2026, 1, 1), now=now)
    assert hours[-1] == datetime(2026, 1, 1, 11, tzinfo=UTC)  # 12:00-13:00 is not over


def test_hour_range_refuses_a_reversed_range_quoting_it():
    with pytest.raises(ValueError, match=r"range 2018-11-03 \.\. 2018-11-01T05 .* after it ends"):
        bf.hour_range(date(2018, 11, 3), datetime(2018, 11, 1, 5, tzinfo=UTC), now=T0)


# -- what a backfill refuses before the API is asked ---------------------------------------------
@pytest.mark.parametrize(
    ("first", "quoted"),
    [
        (date(2018, 10, 31), "2018-10-31 .. 2018-11-02"),
        (datetime(2018, 10, 31, 23, tzinfo=UTC), "2018-10-31T23 .. 2018-11-02"),
        (date(1, 1, 1), "0001-01-01 .. 2018-11-02"),  # refused before its hours are counted
    ],
)
def test_a_range_before_the_dags_start_date_is_refused_quoting_it(first, quoted):
    with pytest.raises(bf.BackfillError, match="before 2018-11-01, the DAGs' start date") as info:
        bf.plan(first, date(2018, 11, 2), now=T0)
    assert f"the range {quoted} starts" in str(info.value)
    api = FakeApi()
    with pytest.raises(bf.BackfillError, match="start date"):
        bf.backfill(api, "all", first, date(2018, 11, 2))
    assert api.calls == []
    assert bf.plan(partitions.START_DATE, date(2018, 11, 1), now=T0)  # the first hour is fine


def test_the_start_date_is_the_dags_own():
    from sparkify.pipeline import dag_defaults

    assert dag_defaults.START_DATE is partitions.START_DATE


@pytest.mark.parametrize(
    ("grain", "runs"),
    [("hour", "8,808"), ("day", "367"), ("range", "4")],
)
def test_a_range_longer_than_the_cap_is_refused_saying_how_many_runs(grain, runs):
    first, last = date(2019, 1, 1), date(2020, 1, 2)  # 367 days
    with pytest.raises(bf.BackfillError) as info:
        bf.plan(first, last, grain, max_days=366, now=T0)
    message = str(info.value)
    assert "the range 2019-01-01 .. 2020-01-02 holds 8,808 hours, more than 366 days" in message
    assert f"by --grain {grain} it would start {runs} run(s) of each DAG" in message
    assert "SPARKIFY_BACKFILL_MAX_DAYS" in message
    assert "--allow-large-range" in message
    assert len(bf.plan(first, last, grain, max_days=None, now=T0)) == int(runs.replace(",", ""))
    assert bf.plan(first, date(2020, 1, 1), grain, max_days=366, now=T0)  # 366 days: the cap


def test_the_cap_counts_hours_so_a_few_hours_over_it_are_refused():
    with pytest.raises(bf.BackfillError, match="holds 25 hours, more than 1 days"):
        bf.plan(date(2019, 1, 1), datetime(2019, 1, 2, 0, tzinfo=UTC), "hour", max_days=1, now=T0)


def test_a_range_not_over_yet_is_refused_quoting_it():
    with pytest.raises(bf.BackfillError, match=r"no hour of the range 2026-01-02 \.\. 2026-01-03"):
        bf.plan(date(2026, 1, 2), date(2026, 1, 3), now=T0)


@pytest.mark.parametrize(("value", "days"), [(None, 366), ("", 366), ("30", 30), (" 1000 ", 1000)])
def test_the_cap_comes_from_the_environment(value, days):
    environ = {} if value is None else {"SPARKIFY_BACKFILL_MAX_DAYS": value}
    assert bf.max_days_from(environ) == days


@pytest.mark.parametrize("value", ["0", "-5", "a year", "1.5"])
def test_a_cap_that_is_not_a_number_of_days_is_refused_quoting_it(value):
    with pytest.raises(bf.BackfillError, match=f"SPARKIFY_BACKFILL_MAX_DAYS={value!r}"):
        bf.max_days_from({"SPARKIFY_BACKFILL_MAX_DAYS": value})


class Connected(Exception):
    """What the command would have done next: ask the API."""


def run_cli(monkeypatch, *argv: str, environ: dict[str, str] | None = None):
    from sparkify.cli import backfill as command

    def connect(*_args, **_kwargs):
        raise Connected

    # The parser first: building it imports every command, and none may keep the fake.
    args = build_parser().parse_args(["backfill", *argv])
    monkeypatch.setattr(command, "connect", connect)
    return args.func(args, environ or {})


def test_the_command_refuses_a_long_range_before_asking_the_api(monkeypatch):
    with pytest.raises(bf.BackfillError, match="--allow-large-range"):
        run_cli(monkeypatch, "--from", "2019-01-01", "--to", "2020-01-02")
    with pytest.raises(Connected):  # a year, 2020 a leap year: within the default cap
        run_cli(monkeypatch, "--from", "2020-01-01", "--to", "2020-12-31")
    with pytest.raises(Connected):
        run_cli(monkeypatch, "--from", "2019-01-01", "--to", "2020-01-02", "--allow-large-range")
    with pytest.raises(bf.BackfillError, match="more than 2 days"):
        run_cli(
            monkeypatch,
            "--from", "2019-01-01", "--to", "2019-01-03",
            environ={"SPARKIFY_BACKFILL_MAX_DAYS": "2"},
        )  # fmt: skip


def test_the_command_refuses_a_range_before_the_start_date_even_when_large_is_allowed(
    monkeypatch,
):
    with pytest.raises(bf.BackfillError, match=r"the range 2018-10-01 \.\. 2018-11-02 starts"):
        run_cli(monkeypatch, "--from", "2018-10-01", "--to", "2018-11-02", "--allow-large-range")


def test_all_means_the_staging_dags():
    assert bf.expand_dags("all") == ("stage_events", "stage_songs")
    assert bf.expand_dags(["model", "all", "model"]) == ("model", "stage_events", "stage_songs")
    with pytest.raises(bf.BackfillError, match="unknown DAG"):
        bf.expand_dags("songplays")


# -- requests ------------------------------------------------------------------------------------
DAY1 = "2018-11-01T00:00:00/2018-11-02T00:00:00"
DAY2 = "2018-11-02T00:00:00/2018-11-03T00:00:00"
BOTH_DAYS = "2018-11-01T00:00:00/2018-11-03T00:00:00"


def test_staging_dags_get_one_run_for_the_range_by_default():
    api = FakeApi()
    subs = bf.backfill(api, "all", date(2018, 11, 1), date(2018, 11, 2))
    assert [s.dag_id for s in subs] == ["stage_events", "stage_songs"]
    for dag_id in ("stage_events", "stage_songs"):
        bodies = api.posted(f"/dags/{dag_id}/dagRuns")
        assert [b["partition_key"] for b in bodies] == [BOTH_DAYS]
        # A run id is a path segment: the window's "/" is not in it.
        assert all("/" not in b["dag_run_id"] for b in bodies)
    assert subs[0].keys == (BOTH_DAYS,)
    by_day = bf.backfill(FakeApi(), "all", date(2018, 11, 1), date(2018, 11, 2), grain="day")
    assert by_day[0].keys == (DAY1, DAY2)
    assert not api.posted("/backfills"), "no Airflow backfill: the DAGs are asset-scheduled"


@pytest.mark.parametrize(
    ("grain", "expected"),
    [
        ("hour", [key(h) for h in range(20, 24)] + [f"2018-11-02T0{h}:00:00" for h in range(3)]),
        (
            "day",
            [
                "2018-11-01T20:00:00/2018-11-02T00:00:00",
                "2018-11-02T00:00:00/2018-11-02T03:00:00",
            ],
        ),
        ("range", ["2018-11-01T20:00:00/2018-11-02T03:00:00"]),
    ],
)
def test_a_grain_cuts_the_range_into_windows(grain, expected):
    api = FakeApi()
    first, last = datetime(2018, 11, 1, 20, tzinfo=UTC), datetime(2018, 11, 2, 2, tzinfo=UTC)
    (sub,) = bf.backfill(api, "stage_events", first, last, grain=grain)
    assert list(sub.keys) == expected
    assert [b["partition_key"] for b in api.posted("/dags/stage_events/dagRuns")] == expected


def test_a_range_too_long_for_one_window_is_cut_into_the_fewest_windows():
    api = FakeApi()
    (sub, _songs) = bf.backfill(api, "all", date(2019, 1, 1), date(2019, 12, 31), grain="range")
    windows = [partitions.parse_window(k) for k in sub.keys]
    assert len(windows) == 4  # 365 days: 92 + 92 + 92 + 89
    assert windows[0].start == datetime(2019, 1, 1, tzinfo=UTC)
    assert windows[-1].end == datetime(2020, 1, 1, tzinfo=UTC)
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert all(w.end - w.start <= timedelta(days=92) for w in windows)
    assert all(w.start.hour == 0 for w in windows)
    # An odd start hour: the later windows still start at midnight.
    (odd, _songs) = bf.backfill(
        FakeApi(), "all", datetime(2019, 1, 1, 5, tzinfo=UTC), date(2019, 6, 30), grain="range"
    )
    assert [k.split("/")[0] for k in odd.keys] == ["2019-01-01T05:00:00", "2019-04-03T00:00:00"]


def test_an_unknown_grain_is_refused():
    api = FakeApi()
    with pytest.raises(bf.BackfillError, match="unknown grain 'week'"):
        bf.backfill(api, "all", date(2018, 11, 1), date(2018, 11, 1), grain="week")
    assert not api.posted("/dags/stage_events/dagRuns")


def test_asset_scheduled_dags_get_one_run_per_partition_key():
    api = FakeApi()
    first, last = datetime(2018, 11, 1, 5, tzinfo=UTC), datetime(2018, 11, 1, 7, tzinfo=UTC)
    (sub,) = bf.backfill(api, "model", first, last, grain="hour")
    bodies = api.posted("/dags/model/dagRuns")
    assert [b["partition_key"] for b in bodies] == [key(5), key(6), key(7)]
    assert all(b["logical_date"] is None for b in bodies)
    run_ids = [b["dag_run_id"] for b in bodies]
    # Airflow reserves "backfill__" (and other run types' prefixes) for its own run types
    assert all(
        r.startswith(f"sparkify_backfill__{k}__") for r, k in zip(run_ids, sub.keys, strict=True)
    )
    assert len(set(run_ids)) == 3
    assert sub.run_ids == tuple(run_ids)


def test_other_dag_ids_can_stand_for_the_pipeline():
    staging, assets = ("floor_stage_events", "floor_stage_songs"), ("floor_model",)
    api = FakeApi(dags={d: {"is_paused": False, "max_active_runs": 2} for d in (*staging, *assets)})
    first, last = datetime(2018, 11, 1, 5, tzinfo=UTC), datetime(2018, 11, 1, 6, tzinfo=UTC)
    opts = {"staging_dags": staging, "asset_dags": assets}
    subs = bf.backfill(api, ["all", "floor_model"], first, last, grain="hour", **opts)
    assert [s.dag_id for s in subs] == [*staging, "floor_model"]
    for dag_id in (*staging, "floor_model"):
        keys = [b["partition_key"] for b in api.posted(f"/dags/{dag_id}/dagRuns")]
        assert keys == [key(5), key(6)]
    assert bf.expand_dags("all", **opts) == staging
    with pytest.raises(bf.BackfillError, match="unknown DAG 'model'"):
        bf.expand_dags("model", **opts)


def test_a_missing_dag_names_the_import_errors():
    api = FakeApi(dags={})
    with pytest.raises(bf.BackfillError, match="model is not known"):
        bf.backfill(api, "model", date(2018, 11, 1), date(2018, 11, 1))


def test_unpause_only_touches_paused_dags():
    api = FakeApi()
    api.dags["model"]["is_paused"] = True
    assert bf.unpause(api, bf.PIPELINE_DAGS) == ["model"]
    assert not api.dags["model"]["is_paused"]
    assert [c[1] for c in api.calls if c[0] == "PATCH"] == ["/dags/model"]


# -- reading runs --------------------------------------------------------------------------------
def test_fetch_runs_pages_through_and_keeps_only_the_keys():
    keys = [key(h, d) for d in (1, 2) for h in range(24)]
    others = [run("model", "2026-01-01T00:00:00", "success", end="x")]
    api = FakeApi({"model": [run("model", k, "success", end="e") for k in keys] + others})
    runs = bf.fetch_runs(api, "model", keys[:30])
    assert [r["partition_key"] for r in runs] == keys[:30]
    params = [c[2] for c in api.calls]
    assert params[0]["partition_key_prefix_pattern"] == "2018-11-0"  # common prefix
    assert params[0]["limit"] == bf.PAGE_LIMIT
    assert len(params) == 1  # 48 runs fit in one page of 100


def test_latest_run_of_each_key_decides_its_state():
    runs = [
        run("m", key(1), "failed", start="2026-01-01T10:00:00Z", end="2026-01-01T10:01:00Z"),
        run("m", key(1), "success", start="2026-01-01T11:00:00Z", end="2026-01-01T11:01:00Z"),
        run("m", key(2), "failed", start="2026-01-01T11:00:00Z", end="2026-01-01T11:01:00Z"),
    ]
    latest = bf.latest_by_key(runs)
    assert latest[key(1)]["state"] == "success"
    assert bf.count_states(latest) == {"success": 1, "failed": 1}


def _finished(dag_id, k, end_minute, state="success"):
    end = f"2026-01-01T12:{end_minute:02d}:00Z"
    return run(dag_id, k, state, start=end, end=end)


def test_wait_for_partitions_counts_only_runs_finished_since():
    keys = [key(1), key(2)]
    api = FakeApi(
        {
            "model": [
                run("model", key(1), "success", start="2025-12-01T00:00Z", end="2025-12-01T00:01Z"),
                _finished("model", key(1), 5),
                _finished("model", key(2), 6),
            ],
        }
    )  # fmt: skip
    latest = bf.wait_for_partitions(api, ["model"], keys, since=T0, poll_interval=0)
    assert {k: r["end_date"] for k, r in latest["model"].items()} == {
        key(1): "2026-01-01T12:05:00Z",
        key(2): "2026-01-01T12:06:00Z",
    }


def test_wait_for_partitions_waits_for_a_run_still_active(monkeypatch):
    api = FakeApi({"model": [_finished("model", key(1), 5), run("model", key(2), "queued")]})
    polls = []

    def finish_later(latest):
        polls.append(len(latest["model"]))
        if len(polls) == 2:
            api.runs["model"][1] = _finished("model", key(2), 9)

    latest = bf.wait_for_partitions(
        api, ["model"], [key(1), key(2)], since=T0, poll_interval=0, on_poll=finish_later
    )
    assert polls == [1, 1, 2]
    assert set(latest["model"]) == {key(1), key(2)}


def test_wait_for_partitions_polls_finished_runs_incrementally():
    api = FakeApi({"model": [_finished("model", key(1), 30), run("model", key(2), "running")]})
    calls = []

    def finish(latest):
        calls.append(latest)
        if len(calls) == 1:
            api.runs["model"][1] = _finished("model", key(2), 31)

    bf.wait_for_partitions(
        api, ["model"], [key(1), key(2)], since=T0, poll_interval=0, on_poll=finish
    )
    floors = [c[2].get("end_date_gte") for c in api.calls if c[2].get("state") == list(bf.FINISHED)]
    # the second poll asks only for runs that ended shortly before the newest one seen
    assert floors == ["2026-01-01T12:00:00Z", "2026-01-01T12:28:00Z"]


def test_wait_for_partitions_times_out_with_what_finished():
    api = FakeApi({"model": [_finished("model", key(1), 5)]})
    with pytest.raises(bf.PartitionWaitError, match="model 1") as info:
        bf.wait_for_partitions(api, ["model"], [key(1), key(2)], timeout=0, poll_interval=0)
    assert set(info.value.latest["model"]) == {key(1)}


def test_wait_for_partitions_can_stop_at_the_first_retry():
    api = FakeApi({"quality": [run("quality", key(4), "running", run_id="q4")]})
    api.retrying = [{"dag_run_id": "q4", "task_id": "check_songplays_table"}]
    with pytest.raises(bf.PartitionWaitError, match=f"quality {key(4)} check_songplays_table"):
        bf.wait_for_partitions(api, ["quality"], [key(4)], stop_on_retry=True, poll_interval=0)


# -- command line and demo ---------------------------------------------------------------------
def test_backfill_and_demo_commands_are_registered():
    args = build_parser().parse_args(["backfill", "--from", "2018-11-01", "--to", "2018-11-01T05"])
    assert args.dag == "all"
    assert args.wait
    assert args.first == date(2018, 11, 1)
    assert args.last == datetime(2018, 11, 1, 5, tzinfo=UTC)
    args = build_parser().parse_args(["demo"])
    assert (args.days, args.events_per_hour, args.down) == (3, 12.0, False)
    assert args.grain == "range"


def test_demo_data_is_generated_once_per_options(tmp_path):
    messages = []
    options = demo.DemoOptions(days=1, events_per_hour=2.0, seed=3)
    out = demo.prepare_data(tmp_path / "demo-data", options, messages.append)
    assert demo.data_span(out) == (date(2018, 11, 1), date(2018, 11, 1))
    demo.prepare_data(tmp_path / "demo-data", options, messages.append)
    assert messages[-1].startswith("reusing")
    options.days = 2
    demo.prepare_data(tmp_path / "demo-data", options, messages.append)
    assert demo.data_span(out) == (date(2018, 11, 1), date(2018, 11, 1) + timedelta(days=1))
