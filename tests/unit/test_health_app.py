"""The health page's app in-process, its Airflow parts replaced: who gets what, and the
headers on every answer (the real api-server: tests/e2e/test_dirty_end_to_end.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

H0 = datetime(2018, 11, 1, 0, tzinfo=UTC)


@pytest.fixture
def app(monkeypatch):
    from fastapi.testclient import TestClient

    from sparkify.health import access
    from sparkify.health import app as app_module
    from sparkify.health.model import Health, HourStats

    readable: dict[str, tuple[str, ...]] = {}
    monkeypatch.setattr(access, "readable_dags", lambda user: readable[user])

    def gather(first, last, *, runs, dags):
        health = Health(H0, H0, dags=dags, generated_at=H0)
        health.hours = {H0: HourStats(read=10, staged=9, plays=4, matched=2, checks=3)}
        return health

    monkeypatch.setattr("sparkify.health.gather.gather", gather)
    monkeypatch.setattr(app_module, "_ui_base", lambda: "")
    fastapi_app = app_module.create_app()
    from airflow.api_fastapi.core_api.security import get_user

    def as_user(name):
        fastapi_app.dependency_overrides[get_user] = lambda: name

    return TestClient(fastapi_app), readable, as_user


def test_every_answer_carries_the_policy_even_a_refusal(app):
    from sparkify.health.page import HEADERS

    client, readable, as_user = app
    anonymous = client.get("/data")
    assert anonymous.status_code == 401
    missing = client.get("/nothing-here")
    assert missing.status_code == 404
    readable["nobody"] = ()
    as_user("nobody")
    refused = client.get("/")
    assert refused.status_code == 403
    for answer in (anonymous, missing, refused):
        for name, value in HEADERS.items():
            assert answer.headers[name] == value, (answer.status_code, name)


def test_hidden_figures_are_absent_not_zero(app):
    client, readable, as_user = app
    readable["ops"] = ("quality",)
    as_user("ops")
    data = client.get("/data").json()
    assert data["dags"] == ["quality"]
    assert data["hours"] == {"2018-11-01T00:00:00": {"checks": 3, "checks_failed": 0}}
    page = client.get("/").text
    assert "<th>read</th>" not in page
    assert "<th>plays</th>" not in page
    assert 'data-chart="failed check outcomes"' in page
    assert 'data-chart="rows staged per hour"' not in page
    readable["analyst"] = ("stage_songs", "model")
    as_user("analyst")
    hour = client.get("/data").json()["hours"]["2018-11-01T00:00:00"]
    assert set(hour) == {"read", "staged", "rejected", "duplicate", "coerced", "reasons"} | {
        "plays",
        "matched",
    }
