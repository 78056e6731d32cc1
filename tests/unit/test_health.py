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
    cells = re.findall(r'data-dag="(\w+)" data-partition="([^"]+)" data-state="(\w+)"', html)
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


HOSTILE = (
    "x onmouseover=alert(1) y",
    '"><img src=x onerror="document.title=1">',
    "'><script>document.title=2</script>",
    "</style><script>alert(3)</script>",
    "javascript:alert(4)",
)


class _Elements:
    """Every start tag of a page, with its attributes, as a browser's parser reads them."""

    def __init__(self, html: str) -> None:
        from html.parser import HTMLParser

        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        outer = self

        class Parser(HTMLParser):
            in_style = False

            def handle_starttag(self, tag, attrs):
                outer.tags.append((tag, dict(attrs)))
                self.in_style = tag == "style"

            def handle_data(self, data):
                if self.in_style:
                    outer.styles.append(data)

            def handle_endtag(self, tag):
                self.in_style = False

        Parser().feed(html)


def _hostile_health() -> Health:
    health = _health()
    health.failed_checks = [FailedCheck(text, text, H0, text, H0 + 3 * HOUR) for text in HOSTILE]
    health.hours[H0].reasons = [(text, 1) for text in HOSTILE]
    health.runs["model"] = {
        H0: latest_runs([("model", "2018-11-01T00:00:00", HOSTILE[1], "success", 1)], H0, H0)[
            "model"
        ][H0]
    }
    return health


def test_hostile_text_from_the_warehouse_stays_text():
    html = render(_hostile_health(), run_link=ui_run_link('"><script>'), form_action='/x"><script>')
    page = _Elements(html)
    assert not [tag for tag, _ in page.tags if tag in ("script", "img", "iframe", "object")]
    for tag, attrs in page.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert "style" not in attrs, (tag, attrs)  # the policy allows no style attribute
    checks = [attrs["data-check"] for tag, attrs in page.tags if "data-check" in attrs]
    assert checks == list(HOSTILE)  # each name whole, inside its own attribute
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    assert all(href.startswith('"><script>/dags/') for href in links), links
    assert all("<" not in href[10:] and '"' not in href[10:] for href in links), links


def test_the_page_carries_a_policy_that_allows_its_own_stylesheet_only():
    import base64
    import hashlib

    from sparkify.health.page import CONTENT_SECURITY_POLICY, HEADERS

    html = render(_health(), run_link=ui_run_link(""))
    page = _Elements(html)
    (style,) = page.styles
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none' covers scripts
    metas = [a for tag, a in page.tags if tag == "meta" and a.get("http-equiv")]
    assert metas == [{"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY}]
    assert HEADERS["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'self'" in HEADERS["Content-Security-Policy"]
    # One stylesheet for every range: the cell width is a class, not a style.
    wide = Health(H0, H0 + 24 * 300 * HOUR, generated_at=H0)
    assert _Elements(render(wide, run_link=ui_run_link(""))).styles == [style]


def test_a_reader_of_some_dags_sees_their_cells_and_figures_only():
    health = _health()
    health.dags = ("stage_events", "model")
    html = render(health, run_link=ui_run_link(""))
    page = _Elements(html)
    rows = {
        attrs["data-dag"]
        for tag, attrs in page.tags
        if "data-partition" in attrs and "data-dag" in attrs
    }
    assert rows == {"stage_events", "model"}
    assert 'id="access"' in html
    assert "Hidden: stage_songs, quality" in html


def test_runs_of_dags_the_reader_may_not_see_are_dropped():
    rows = [
        ("stage_events", "2018-11-01T00:00:00", "a", "success", 1),
        ("quality", "2018-11-01T00:00:00", "b", "failed", 2),
    ]
    runs = latest_runs(rows, H0, H0, dags=("stage_events",))
    assert set(runs) == {"stage_events"}


class _Records:
    """The warehouse's reads as the health SQL returns them, by file name."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        epoch = int(H0.timestamp())
        self.rows = {
            "read_newest_hour": [(H0, H0)],
            "read_partition_stats": [
                ("events", epoch, 1, 10, 8, 2, 0, 0),
                ("songs", epoch, 1, 5, 5, 0, 0, 0),
            ],
            "read_reject_reasons": [
                ("events", epoch, "not_json", 2),
                ("songs", epoch, "too_deep", 7),
            ],
            "read_plays": [(epoch, 4, 1)],
            "read_check_failures_per_hour": [(epoch, 9, 1)],
            "read_failed_checks": [("reject_rate", "staging_events", H0, "0.2", H0)],
        }

    def get_records(self, sql, parameters=None):
        for name, rows in self.rows.items():
            if _SQL[name] == sql:
                self.asked.append(name)
                return rows
        raise AssertionError(sql)


def _sql_texts() -> dict[str, str]:
    from sparkify.pipeline.sql import render as render_sql
    from sparkify.pipeline.sql import statements

    names = (
        "read_newest_hour",
        "read_partition_stats",
        "read_reject_reasons",
        "read_plays",
        "read_check_failures_per_hour",
        "read_failed_checks",
    )
    return {n: statements(render_sql(f"health/{n}", "postgres"))[0] for n in names}


_SQL = _sql_texts()


@pytest.mark.parametrize(
    ("dags", "read", "reasons", "plays", "checks", "fresh"),
    [
        (
            ("stage_events", "stage_songs", "model", "quality"),
            15,
            [("too_deep", 7), ("not_json", 2)],
            4,
            1,
            True,
        ),
        (("stage_events",), 10, [("not_json", 2)], 0, 0, True),
        (("stage_songs", "quality"), 5, [("too_deep", 7)], 0, 1, False),
        (("model",), None, None, 4, 0, False),
    ],
)
def test_warehouse_figures_follow_the_dags_that_produced_them(
    dags, read, reasons, plays, checks, fresh
):
    from sparkify.health.warehouse import read_warehouse

    records = _Records()
    health = read_warehouse(Health(H0, H0, dags=dags), records, "postgres")
    stats = health.hours[H0]
    if read is not None:
        assert (stats.read, stats.reasons) == (read, reasons)
    else:
        assert (stats.read, stats.reasons) == (0, [])
        assert "read_reject_reasons" not in records.asked
    assert stats.plays == plays
    assert len(health.failed_checks) == checks
    assert stats.checks_failed == checks
    assert (health.newest_with_events is not None) == fresh
    if "model" not in dags:
        assert "read_plays" not in records.asked
    if "quality" not in dags:
        assert "read_failed_checks" not in records.asked


def test_the_auth_manager_is_asked_for_each_dag_s_runs():
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    from sparkify.health.access import readable_dags

    asked = []

    class AuthManager:
        def is_authorized_dag(self, *, method, access_entity, details, user):
            asked.append((method, access_entity, details.id, user))
            return details.id in ("model", "stage_events")

    assert readable_dags("ann", AuthManager()) == ("stage_events", "model")
    assert asked == [
        ("GET", DagAccessEntity.RUN, dag_id, "ann")
        for dag_id in ("stage_events", "stage_songs", "model", "quality")
    ]


def test_a_report_holds_the_dags_its_api_user_may_list():
    from sparkify.control.api import ApiError
    from sparkify.health.access import readable_dags_from_api

    class Client:
        def get(self, path, **params):
            if "/quality/" in path:
                raise ApiError("GET", path, 403, "forbidden")
            if "/model/" in path:
                raise ApiError("GET", path, 500, "boom")
            return {"dag_runs": []}

    with pytest.raises(ApiError, match="500"):
        readable_dags_from_api(Client())

    class Fewer(Client):
        def get(self, path, **params):
            return {"dag_runs": []} if "/model/" in path else super().get(path, **params)

    assert readable_dags_from_api(Fewer()) == ("stage_events", "stage_songs", "model")
