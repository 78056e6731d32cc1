"""The health page's model and rendering: hours and windows, latest runs, ranges, cells."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from sparkify.health.model import FailedCheck, Health, HourStats, key_hours, parse_range
from sparkify.health.page import render, ui_run_link
from sparkify.health.runs import key_bounds, latest_runs

H0 = datetime(2018, 11, 1, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_a_key_covers_its_hour_and_a_window_every_hour_inside_it():
    assert key_hours("2018-11-01T05:00:00") == [H0 + 5 * HOUR]
    window = key_hours("2018-11-01T00:00:00/2018-11-02T00:00:00")
    assert (window[0], window[-1], len(window)) == (H0, H0 + 23 * HOUR, 24)
    assert key_hours("") == []
    assert key_hours("manual__x") == []


def test_the_latest_run_of_each_hour_wins_and_a_window_colours_its_hours():
    rows = [
        ("model", "2018-11-01T01:00:00", "r1", "failed", 1),
        ("model", "2018-11-01T01:00:00", "r2", "success", 2),
        ("model", "2018-11-01T00:00:00/2018-11-01T03:00:00", "w", "running", 3),
        ("quality", "2018-11-01T02:00:00", "q", "up_for_retry", 4),
        ("quality", "2018-11-05T00:00:00", "outside", "success", 5),
    ]
    runs = latest_runs(rows, H0, H0 + 3 * HOUR)
    assert {h: r.run_id for h, r in runs["model"].items()} == {
        H0: "w",
        H0 + HOUR: "w",
        H0 + 2 * HOUR: "w",
    }
    assert runs["quality"][H0 + 2 * HOUR].state == "queued"  # not finished: shown as waiting
    assert runs["stage_events"] == {}
    assert key_bounds(H0, H0 + 3 * HOUR) == ("2018-11-01T00:00:00", "2018-11-01T04:00:00")


def test_the_default_range_is_the_seven_days_ending_at_the_newest_hour_staged():
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    first, last = parse_range(None, None, H0 + 23 * HOUR, now=now)
    assert last == H0 + 23 * HOUR
    assert first == last - timedelta(days=7) + HOUR
    first, last = parse_range(None, None, None, now=now)
    assert last == datetime(2026, 12, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "last", "error"),
    [
        ("2018-11-02", "2018-11-01", "after it ends"),
        ("2018-13-01", "2018-11-01", "neither"),
        ("2017-01-01", "2018-11-01", "at most"),
    ],
)
def test_a_bad_range_is_refused_with_the_reason(first, last, error):
    with pytest.raises(ValueError, match=error):
        parse_range(first, last, None, now=datetime.now(UTC))


def test_days_cover_all_their_hours():
    assert parse_range("2018-11-01", "2018-11-01", None, now=datetime.now(UTC)) == (
        H0,
        H0 + 23 * HOUR,
    )


def _health() -> Health:
    health = Health(H0, H0 + 2 * HOUR, generated_at=H0 + 5 * HOUR)
    health.runs = latest_runs(
        [
            ("stage_events", "2018-11-01T00:00:00", "run <1>", "success", 1),
            ("stage_events", "2018-11-01T01:00:00", "run2", "failed", 2),
        ],
        health.first,
        health.last,
    )
    health.hours = {
        H0: HourStats(read=10, staged=8, rejected=2, plays=4, matched=1, reasons=[("not_json", 2)])
    }
    health.failed_checks = [
        FailedCheck("reject_rate", "staging_events", H0, "0.2 > 0.01 <b>", H0 + 3 * HOUR)
    ]
    health.newest_with_events = H0
    return health


def test_every_cell_names_its_partition_dag_and_state_and_links_its_run():
    html = render(_health(), run_link=ui_run_link("/base"))
    cells = re.findall(r'data-dag=(\w+) data-partition="([^"]+)" data-state=(\w+)', html)
    assert len(cells) == 4 * 3
    states = {(d, k): s for d, k, s in cells}
    assert states[("stage_events", "2018-11-01T00:00:00")] == "success"
    assert states[("stage_events", "2018-11-01T01:00:00")] == "failed"
    assert states[("model", "2018-11-01T02:00:00")] == "missing"
    assert 'href="/base/dags/stage_events/runs/run%20%3C1%3E"' in html


def test_text_from_the_warehouse_is_escaped_and_the_page_is_self_contained():
    html = render(_health(), run_link=ui_run_link(""))
    assert "0.2 &gt; 0.01 &lt;b&gt;" in html
    assert "0.01 <b>" not in html
    assert "not_json (2)" in html
    for outside in ("http://", "https://", "<script", "<link", "@import"):
        assert outside not in html
    assert "25%" in html  # one of four plays matched
    assert html.count("<svg") == 4


@pytest.mark.parametrize(
    "run_id",
    ["backfill__2018-11-01T00:00:00+00:00", "manual run/1", "a%b?c#d&e", "ünïcode", "plain_1.2-3~"],
)
def test_run_links_are_encoded_as_quote_encodes_a_path_segment(run_id):
    from urllib.parse import quote

    assert ui_run_link("")("model", run_id) == f"/dags/model/runs/{quote(run_id, safe='')}"
