"""End to end with dirty data: every line of the window accounted for, through the scheduler.

``sparkify generate --dirty --hostile`` writes a day with production defects and hostile
lines (nesting too deep, numbers past their type, an over-long line, bytes that are not
UTF-8, wide text) and a manifest of each one and the outcome staging must reach. The day is
landed in the stack's bucket and six of its hours are backfilled through the real scheduler:
both staging DAGs, then ``model`` and ``quality`` by their assets. Then, per partition, the
warehouse must agree exactly with the manifest: lines read, staged, coerced, rejected (with
each reason) and duplicate, plays loaded and matched. ``quality`` must fail exactly the hours
whose reject rate passes the threshold (1 %), naming the commonest reason, and pass every
other hour.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from sparkify.control import trigger_and_wait
from sparkify.local.demo import land_data, settle
from sparkify.local.generate.dataset import generate
from sparkify.local.generate.dirty import HOSTILE_KINDS
from sparkify.pipeline import partitions
from tests.e2e.chain import empty_bucket, empty_warehouse, run_window

pytestmark = pytest.mark.e2e

DAY = date(2018, 11, 21)  # a day no other test lands
HOURS = [datetime(DAY.year, DAY.month, DAY.day, h, tzinfo=UTC) for h in range(6)]
KEYS = [partitions.format_key(h) for h in HOURS]
# Only the window's rows are read: at each full hour the scheduler stages the hour just
# ended (an empty one here), and ``model`` and ``quality`` follow, whatever this test does.
IN_WINDOW = "partition_hour BETWEEN %s AND %s"
WINDOW = (HOURS[0].replace(tzinfo=None), HOURS[-1].replace(tzinfo=None))
MAX_REJECT_RATE = 0.01  # config/local.toml


@dataclass
class DirtyRun:
    manifest: dict
    runs: dict[str, dict[str, dict]]  # the latest run of each DAG per key
    dsn: str


@pytest.fixture(scope="module")
def dirty(live, tmp_path_factory) -> DirtyRun:
    stack, client = live
    out = tmp_path_factory.mktemp("e2e-dirty")
    # Seed 23 deals every defect and hostile kind into the window's six hours, with hours
    # both over and within the reject threshold.
    manifest = generate(
        out, start=DAY, days=1, events_per_hour=40, songs=60, dirty=0.1, seed=23, hostile=True
    )
    empty_warehouse(stack.warehouse_dsn())
    empty_bucket(stack)
    assert trigger_and_wait(client, "setup")["state"] == "success"
    settle(client)
    land_data(stack, out, DAY, DAY)
    _since, seconds, latest = run_window(client, HOURS, expect_success=False)
    print(f"{len(KEYS)} dirty partitions through the whole chain in {seconds:.1f}s")
    return DirtyRun(manifest, latest, stack.warehouse_dsn())


def window_defects(manifest: dict, outcome: str) -> list[dict]:
    return [
        d for d in manifest["defects"] if d["outcome"] == outcome and d.get("partition") in KEYS
    ]


def rejected_share(manifest: dict, key: str) -> float:
    want = manifest["partitions"].get(key)
    return want["rejected"] / want["lines"] if want and want["lines"] else 0.0


def test_the_window_holds_defects_of_every_kind(dirty: DirtyRun) -> None:
    kinds = {d["kind"] for d in dirty.manifest["defects"] if d.get("partition") in KEYS}
    assert {"not_json", "not_object", "missing_field", "nested_value"} <= kinds
    assert {"int_text", "int_float", "number_for_string", "duplicate"} <= kinds
    assert "bom" in kinds  # the day's first line starts with a byte-order mark
    assert set(HOSTILE_KINDS) <= kinds  # staged or rejected, never failing their hour
    for outcome in ("coerced", "rejected", "duplicate"):
        assert window_defects(dirty.manifest, outcome), outcome


def test_staging_and_model_ran_for_every_hour(dirty: DirtyRun) -> None:
    for dag_id in ("stage_events", "stage_songs", "model"):
        states = {key: run["state"] for key, run in dirty.runs[dag_id].items()}
        assert states == dict.fromkeys(KEYS, "success"), dag_id


def test_every_line_is_accounted_for_per_partition(dirty: DirtyRun) -> None:
    with psycopg.connect(dirty.dsn) as conn:
        rows = conn.execute(
            "SELECT partition_hour, rows_read, rows_staged, rows_rejected, rows_duplicate, "
            f"rows_coerced FROM staging_partitions WHERE dataset = 'events' AND {IN_WINDOW}",
            WINDOW,
        ).fetchall()
    found = {partitions.format_key(r[0].replace(tzinfo=UTC)): tuple(r[1:]) for r in rows}
    assert sorted(found) == KEYS
    for key in KEYS:
        want = dirty.manifest["partitions"].get(key)
        expected = (
            (want["lines"], want["staged"] + want["coerced"], want["rejected"],
             want["duplicate"], want["coerced"])
            if want else (0, 0, 0, 0, 0)
        )  # fmt: skip
        assert found[key] == expected, key
        read, staged, rejected, duplicate, _ = found[key]
        assert read == staged + rejected + duplicate, key


def test_each_rejected_line_carries_the_reason_the_generator_gave_it(dirty: DirtyRun) -> None:
    with psycopg.connect(dirty.dsn) as conn:
        rejects = conn.execute(
            "SELECT partition_hour, line_no, reason FROM staging_rejects "
            f"WHERE dataset = 'events' AND {IN_WINDOW}",
            WINDOW,
        ).fetchall()
    found = Counter(
        (partitions.format_key(h.replace(tzinfo=UTC)), reason) for h, _line, reason in rejects
    )
    expected = Counter(
        (d["partition"], d["reason"]) for d in window_defects(dirty.manifest, "rejected")
    )
    assert found == expected
    # Line numbers point into the landed hourly objects, which the generator's day file is
    # split into, so they are checked by the integration tier; here, that each is set.
    assert all(line >= 1 for _h, line, _r in rejects)


def test_songs_reconcile_with_the_catalogue_defects(dirty: DirtyRun) -> None:
    songs = dirty.manifest["songs"]
    with psycopg.connect(dirty.dsn) as conn:
        read, staged, rejected, coerced = conn.execute(
            "SELECT SUM(rows_read), SUM(rows_staged), SUM(rows_rejected), SUM(rows_coerced) "
            "FROM staging_partitions WHERE dataset = 'songs'"
        ).fetchone()
        reasons = Counter(
            conn.execute(
                "SELECT source_key, reason FROM staging_rejects WHERE dataset = 'songs'"
            ).fetchall()
        )
    assert (read, staged, rejected, coerced) == (
        songs["files"], songs["staged"] + songs["coerced"], songs["rejected"], songs["coerced"]
    )  # fmt: skip
    expected = Counter(
        (d["file"], d["reason"])
        for d in dirty.manifest["defects"]
        if d["file"].startswith("song_data/") and d["outcome"] == "rejected"
    )
    assert reasons == expected


def test_plays_match_the_generator_per_partition(dirty: DirtyRun) -> None:
    with psycopg.connect(dirty.dsn) as conn:
        rows = conn.execute(
            "SELECT partition_hour, COUNT(*), COUNT(song_id) FROM songplays "
            f"WHERE {IN_WINDOW} GROUP BY 1",
            WINDOW,
        ).fetchall()
    found = {partitions.format_key(h.replace(tzinfo=UTC)): (n, m) for h, n, m in rows}
    expected = {
        key: (want["plays_staged"], want["plays_matched_staged"])
        for key in KEYS
        if (want := dirty.manifest["partitions"].get(key)) and want["plays_staged"]
    }
    assert found == expected
    assert sum(m for _, m in expected.values()) > 0, "some plays match a song"


def test_quality_fails_exactly_the_hours_over_the_reject_threshold(dirty: DirtyRun) -> None:
    over = {k for k in KEYS if rejected_share(dirty.manifest, k) > MAX_REJECT_RATE}
    assert over, "the window needs an hour over the threshold"
    assert set(KEYS) - over, "the window needs an hour within the threshold"
    states = {key: run["state"] for key, run in dirty.runs["quality"].items()}
    assert states == {k: "failed" if k in over else "success" for k in KEYS}
    with psycopg.connect(dirty.dsn) as conn:
        failed = conn.execute(
            "SELECT partition_hour, check_name, value FROM check_results "
            f"WHERE NOT passed AND {IN_WINDOW}",
            WINDOW,
        ).fetchall()
        checked = conn.execute(
            "SELECT partition_hour, COUNT(DISTINCT check_name) FROM check_results "
            f"WHERE {IN_WINDOW} GROUP BY 1",
            WINDOW,
        ).fetchall()
    by_key = {
        partitions.format_key(h.replace(tzinfo=UTC)): (name, value) for h, name, value in failed
    }
    assert len(failed) == len(over), failed  # one failed check per failed hour
    for key in over:
        name, value = by_key[key]
        assert name == "reject_rate"
        reasons = Counter(
            d["reason"] for d in window_defects(dirty.manifest, "rejected") if d["partition"] == key
        )
        top = max(reasons.values())
        assert any(f"{r} ({n})" in value for r, n in reasons.items() if n == top), value
    # Every hour was checked in full, the failed ones too: a failed check stops nothing else.
    counts = {partitions.format_key(h.replace(tzinfo=UTC)): n for h, n in checked}
    assert set(counts) == set(KEYS)
    assert len(set(counts.values())) == 1, counts


# -- the partition health page over the same window -------------------------------------------
def _range_query() -> str:
    return f"from={KEYS[0][:13]}&to={KEYS[-1][:13]}"


def _expected_states(dirty: DirtyRun) -> dict[str, Counter]:
    return {
        dag_id: Counter(run["state"] for run in dirty.runs[dag_id].values())
        for dag_id in ("stage_events", "stage_songs", "model", "quality")
    }


def test_the_health_page_refuses_anonymous_requests(dirty: DirtyRun, live) -> None:
    import httpx

    stack, _client = live
    for path in ("/sparkify/", "/sparkify/data"):
        anonymous = httpx.get(f"{stack.api_url}{path}?{_range_query()}", timeout=30)
        assert anonymous.status_code in (401, 403), (path, anonymous.status_code)
        assert "data-partition" not in anonymous.text
        assert "reject_rate" not in anonymous.text
        forged = httpx.get(
            f"{stack.api_url}{path}?{_range_query()}",
            headers={"Authorization": "Bearer not-a-token"},
            timeout=30,
        )
        assert forged.status_code in (401, 403), (path, forged.status_code)


def test_the_health_data_agrees_with_airflow_and_the_warehouse(dirty: DirtyRun, live) -> None:
    import httpx

    stack, client = live
    answer = httpx.get(
        f"{stack.api_url}/sparkify/data?{_range_query()}",
        headers={"Authorization": f"Bearer {client.token()}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:500]
    data = answer.json()
    assert (data["first"], data["last"]) == (KEYS[0], KEYS[-1])
    for dag_id, want in _expected_states(dirty).items():
        got = {state: n for state, n in data["states"][dag_id].items() if n}
        assert got == dict(want), dag_id
    for key in KEYS:
        want = dirty.manifest["partitions"].get(key)
        got = data["hours"].get(key)
        if want and want["lines"]:
            # events and songs together: an hour's song lines come on top of its events'
            assert got["read"] >= want["lines"], key
            assert got["rejected"] >= want["rejected"], key
            assert (got["plays"], got["matched"]) == (
                want["plays_staged"],
                want["plays_matched_staged"],
            ), key


# The README shows the page as this test sees it: `make screenshots` runs it with
# SPARKIFY_SCREENSHOTS=docs/images, and it copies its screenshot there.
SCREENSHOTS_ENV = "SPARKIFY_SCREENSHOTS"


def test_the_health_page_in_a_browser(dirty: DirtyRun, live, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    from sparkify.local.stack.config import ADMIN_USER
    from tests.e2e.browser import chromium, log_in

    stack, _client = live
    page = f"/sparkify/?{_range_query()}"
    with chromium() as driver:
        log_in(driver, stack.api_url, ADMIN_USER, stack.admin_password, next_path="/")
        driver.get(stack.api_url + page)
        shot = tmp_path / "health-page.png"
        driver.save_screenshot(str(shot))
        if folder := os.environ.get(SCREENSHOTS_ENV):
            shutil.copyfile(shot, Path(folder) / shot.name)
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 10_000
        cells = driver.find_elements(By.CSS_SELECTOR, "#grid [data-partition]")
        seen: dict[str, Counter] = {}
        for cell in cells:
            dag_id = cell.get_attribute("data-dag")
            seen.setdefault(dag_id, Counter())[cell.get_attribute("data-state")] += 1
        assert seen == _expected_states(dirty)
        assert len(cells) == 4 * len(KEYS)
        success = driver.find_element(By.CSS_SELECTOR, '#grid a[data-state="success"]')
        assert "/runs/" in success.get_attribute("href")
        failed_rows = driver.find_elements(By.CSS_SELECTOR, "#failed-checks tr[data-check]")
        failed_quality = _expected_states(dirty)["quality"]["failed"]
        assert failed_quality >= 1, "the dirty window fails quality for some hour"
        reject_rows = [r for r in failed_rows if r.get_attribute("data-check") == "reject_rate"]
        assert reject_rows, "a failed reject_rate check is listed"
        value = reject_rows[0].find_element(By.CSS_SELECTOR, "td.value").text
        assert "(max 0.01); commonest:" in value
        assert len(driver.find_elements(By.CSS_SELECTOR, "figure[data-chart] svg")) == 4
    # The embedded view: the UI's own navigation links to it.
    plugins = _client.get("/plugins")["plugins"]
    views = [v for p in plugins for v in p["external_views"]]
    assert any(v["href"] == "/sparkify/" for v in views), views


def _as(stack, user: str):
    """A REST client logged in as one of the session stack's users (tests/auth_grants.py)."""
    from sparkify.control.api import ApiClient
    from tests.auth_grants import password_of

    return ApiClient(stack.api_url, username=user, password=password_of(stack, user))


def _events_read(stack) -> dict[str, int]:
    with psycopg.connect(stack.warehouse_dsn()) as conn:
        rows = conn.execute(
            "SELECT partition_hour, rows_read FROM staging_partitions WHERE dataset = 'events' "
            "AND partition_hour BETWEEN %s AND %s",
            (HOURS[0].replace(tzinfo=None), HOURS[-1].replace(tzinfo=None)),
        ).fetchall()
    return {partitions.format_key(h.replace(tzinfo=UTC)): n for h, n in rows}


def test_the_health_page_shows_a_user_only_the_dags_they_may_read(dirty: DirtyRun, live) -> None:
    import httpx

    from sparkify.control.api import ApiError
    from sparkify.health.page import HEADERS
    from tests.auth_grants import GRANTS, OUTSIDER, READER

    stack, _client = live
    allowed = GRANTS[READER]
    with _as(stack, READER) as reader:
        # Airflow's own API says the same: the reader may not list quality's runs.
        with pytest.raises(ApiError) as denied:
            reader.get("/dags/quality/dagRuns", limit=1)
        assert denied.value.status_code == 403
        auth = {"Authorization": f"Bearer {reader.token()}"}
        answer = httpx.get(
            f"{stack.api_url}/sparkify/data?{_range_query()}", headers=auth, timeout=60
        )
        assert answer.status_code == 200, answer.text[:500]
        assert answer.headers["content-security-policy"] == HEADERS["Content-Security-Policy"]
        data = answer.json()
        assert data["dags"] == allowed
        assert set(data["runs"]) == set(data["states"]) == set(allowed)
        # Figures of stage_events (event lines, not song lines) and model (plays); none of
        # quality's (checks) or stage_songs'.
        assert data["failed_checks"] == []
        hours = data["hours"]
        assert all("checks" not in h and "checks_failed" not in h for h in hours.values())
        events = _events_read(stack)
        assert {k: h["read"] for k, h in hours.items() if h["read"]} == {
            k: n for k, n in events.items() if n
        }
        assert sum(h["plays"] for h in hours.values()) > 0
        page = httpx.get(f"{stack.api_url}/sparkify/?{_range_query()}", headers=auth, timeout=60)
        assert page.status_code == 200
        for dag_id in ("stage_events", "stage_songs", "model", "quality"):
            assert (f'data-dag-row="{dag_id}"' in page.text) == (dag_id in allowed), dag_id
    with _as(stack, OUTSIDER) as outsider:
        auth = {"Authorization": f"Bearer {outsider.token()}"}
        for path in ("/sparkify/", "/sparkify/data"):
            answer = httpx.get(f"{stack.api_url}{path}?{_range_query()}", headers=auth, timeout=60)
            assert answer.status_code == 403, (path, answer.status_code)
            assert "data-partition" not in answer.text
            assert "reject_rate" not in answer.text


# Text that would run as script if any of it reached the page as markup: each sets a marker.
HOSTILE_TEXT = (
    'x onmouseover="document.body.dataset.pwned=1" y',
    '"><img src=x onerror="document.body.dataset.pwned=2">',
    "</td><script>document.body.dataset.pwned=3</script>",
    "<svg onload=document.body.dataset.pwned=4>",
)


def test_no_text_from_the_warehouse_runs_in_the_page(dirty: DirtyRun, live) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from sparkify.local.stack.config import ADMIN_USER
    from tests.e2e.browser import chromium, log_in

    stack, _client = live
    hour = HOURS[0].replace(tzinfo=None)
    marker = "sparkify-hostile-test"
    with psycopg.connect(stack.warehouse_dsn(), autocommit=True) as conn:
        for text in HOSTILE_TEXT:
            conn.execute(
                "INSERT INTO check_results (check_name, table_name, partition_hour, value, "
                "passed, partition_key) VALUES (%s, %s, %s, %s, false, %s)",
                (text, text, hour, text, marker),
            )
            conn.execute(
                "INSERT INTO staging_rejects (dataset, partition_hour, source_key, line_no, "
                "reason, raw_text) VALUES ('events', %s, %s, 1, %s, %s)",
                (hour, marker, text, text),
            )
        try:
            with chromium() as driver:
                log_in(driver, stack.api_url, ADMIN_USER, stack.admin_password, next_path="/")
                # The page's policy would stop any script; with it bypassed, what is
                # tested is the escaping itself.
                driver.execute_cdp_cmd("Page.setBypassCSP", {"enabled": True})
                driver.get(f"{stack.api_url}/sparkify/?{_range_query()}")
                rows = driver.find_elements(By.CSS_SELECTOR, "#failed-checks tr[data-check]")
                names = [r.get_attribute("data-check") for r in rows]
                assert all(text in names for text in HOSTILE_TEXT), names
                for row in rows:  # hover every row: an injected handler would fire now
                    ActionChains(driver).move_to_element(row).perform()
                body = driver.find_element(By.TAG_NAME, "body")
                assert body.get_attribute("data-pwned") is None
                # Shown as text, whole, where a person reads it.
                table = driver.find_element(By.ID, "failed-checks").text
                assert all(text in table for text in HOSTILE_TEXT), table
                assert not driver.find_elements(By.CSS_SELECTOR, "#failed-checks script, img")
        finally:
            conn.execute("DELETE FROM check_results WHERE partition_key = %s", (marker,))
            conn.execute("DELETE FROM staging_rejects WHERE source_key = %s", (marker,))


def test_a_reader_of_some_dags_sees_their_rows_in_a_browser(dirty: DirtyRun, live) -> None:
    from selenium.webdriver.common.by import By

    from tests.auth_grants import GRANTS, READER, password_of
    from tests.e2e.browser import chromium, log_in

    stack, _client = live
    with chromium() as driver:
        log_in(driver, stack.api_url, READER, password_of(stack, READER), next_path="/")
        driver.get(f"{stack.api_url}/sparkify/?{_range_query()}")
        rows = driver.find_elements(By.CSS_SELECTOR, "#grid [data-dag-row]")
        assert [r.get_attribute("data-dag-row") for r in rows] == GRANTS[READER]
        cells = driver.find_elements(By.CSS_SELECTOR, "#grid [data-partition]")
        assert len(cells) == len(GRANTS[READER]) * len(KEYS)
        assert "Hidden: stage_songs, quality" in driver.find_element(By.ID, "access").text


def test_sparkify_report_writes_a_page_that_opens_offline(dirty: DirtyRun, live, tmp_path) -> None:
    from sparkify.cli.main import main

    out = tmp_path / "report.html"
    assert main(["report", "--from", KEYS[0][:13], "--to", KEYS[-1][:13], "--out", str(out)]) == 0
    html = out.read_text()
    assert html.count("data-partition=") >= 4 * len(KEYS)
    for outside in ("<script", "<link", "@import", 'src="http'):
        assert outside not in html
    assert "reject_rate" in html


# -- alerts ---------------------------------------------------------------------------------------
def _window_alerts(received: list, dag_id: str, kind: str = "failure") -> list[dict]:
    """The alerts of ``kind`` for ``dag_id`` and the window's keys (a run that waited past
    its deadline, one minute in the test session, sends a ``deadline`` alert besides)."""
    return [
        a
        for a in received
        if a.get("kind") == kind and a.get("dag_id") == dag_id and a.get("partition_key") in KEYS
    ]


def test_each_failed_quality_partition_sends_exactly_one_alert(dirty: DirtyRun, alert_sinks):
    import time
    from urllib.parse import unquote

    webhook, smtp = alert_sinks
    failed = sorted(k for k, run in dirty.runs["quality"].items() if run["state"] == "failed")
    assert failed, "the dirty window fails quality for some hour"
    deadline = time.monotonic() + 120  # the dag-processor runs DAG callbacks
    while time.monotonic() < deadline:
        if len(_window_alerts(webhook.received, "quality")) >= len(failed):
            break
        time.sleep(2)
    time.sleep(5)  # and no second alert for any of them
    alerts = _window_alerts(webhook.received, "quality")
    assert sorted(a["partition_key"] for a in alerts) == failed  # one each, none for passes
    for alert in alerts:
        reject = [c for c in alert["checks"] if c["check"] == "reject_rate"]
        assert reject, alert
        assert "(max 0.01); commonest:" in reject[0]["value"]
        assert alert["partition_key"] in alert["text"]
        assert reject[0]["value"] in alert["text"]
        assert unquote(alert["run_url"]).endswith(f"/dags/quality/runs/{alert['run_id']}")
        assert "/sparkify/?from=" in alert["health_url"]
    for dag_id in ("stage_events", "stage_songs", "model"):
        assert not _window_alerts(webhook.received, dag_id), dag_id  # they succeeded
    mails = [
        m
        for m in smtp.received
        if m["Subject"].startswith("sparkify: quality failed for ")
        and m["Subject"].rsplit(" ", 1)[-1] in KEYS
    ]
    assert len(mails) == len(failed)
    assert all(m["To"] == "oncall@example.com" for m in mails)


def test_a_partition_not_done_in_time_raises_a_deadline_alert(dirty: DirtyRun, live, alert_sinks):
    """A ``quality`` run left queued (its DAG paused) past its deadline (one minute in the
    test session) sends a ``deadline`` alert from the triggerer."""
    import time

    _stack, client = live
    webhook, _smtp = alert_sinks
    key = partitions.format_key(HOURS[-1].replace(hour=23))  # outside the window
    run_id = f"deadline_test__{time.time_ns()}"
    client.patch("/dags/quality", json={"is_paused": True}, update_mask="is_paused")
    try:
        client.post(
            "/dags/quality/dagRuns",
            json={"dag_run_id": run_id, "logical_date": None, "partition_key": key},
        )
        deadline = time.monotonic() + 240
        found: list[dict] = []
        while not found and time.monotonic() < deadline:
            time.sleep(3)
            found = [
                a
                for a in webhook.received
                if a.get("kind") == "deadline" and a.get("partition_key") == key
            ]
        assert len(found) == 1, "one deadline alert for the run left queued"
        assert found[0]["dag_id"] == "quality"
        assert found[0]["run_id"] == run_id
        assert "missed its deadline" in found[0]["text"]
        state = client.get(f"/dags/quality/dagRuns/{run_id}")["state"]
        assert state == "queued", "the alert came while the run was still not done"
    finally:
        client.patch(f"/dags/quality/dagRuns/{run_id}", json={"state": "failed"})
        client.patch("/dags/quality", json={"is_paused": False}, update_mask="is_paused")
