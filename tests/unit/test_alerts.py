"""Alerts: which channels, what an alert says, and that each channel's notifier is used."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest

from sparkify.pipeline import alerts


def _context(key="2018-11-21T03:00:00", task_id="reconcile_partition"):
    return {
        "dag_run": SimpleNamespace(dag_id="quality", run_id="run 1", partition_key=key),
        "ti": SimpleNamespace(task_id=task_id),
        "reason": "task_failure",
    }


def test_no_channel_unless_configured():
    assert alerts.channels({}) == []
    assert alerts.channels({"SPARKIFY_ALERT_CHANNELS": "none"}) == []
    assert alerts.channels({"SPARKIFY_ALERT_CHANNELS": "webhook"}) == ["webhook"]


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SPARKIFY_ALERT_CHANNELS": "pager"}, "pager"),
        ({"SPARKIFY_ALERT_CHANNELS": "smtp"}, "SPARKIFY_ALERT_EMAIL_TO"),
    ],
)
def test_bad_alert_settings_say_what_is_wrong(environ, named):
    with pytest.raises(alerts.AlertConfigError, match=named):
        alerts.channels(environ)


def test_an_alert_names_dag_partition_task_checks_and_links(monkeypatch):
    monkeypatch.setenv("SPARKIFY_UI_URL", "http://airflow.local/")
    checks = [{"check": "reject_rate", "table": "staging_events", "value": "0.05 (max 0.01)"}]
    alert = alerts.build_alert(_context(), checks=checks)
    assert alert["dag_id"] == "quality"
    assert alert["partition_key"] == "2018-11-21T03:00:00"
    assert alert["task_id"] == "reconcile_partition"
    assert alert["run_url"] == "http://airflow.local/dags/quality/runs/run%201"
    assert (
        alert["health_url"] == "http://airflow.local/sparkify/?from=2018-11-21T03&to=2018-11-21T03"
    )
    assert "reject_rate on staging_events found 0.05 (max 0.01)" in alert["text"]
    assert alert["run_url"] in alert["text"]


def test_notify_sends_one_alert_per_channel(monkeypatch):
    monkeypatch.setenv("SPARKIFY_ALERT_CHANNELS", "webhook,smtp")
    monkeypatch.setenv("SPARKIFY_ALERT_EMAIL_TO", "oncall@example.com")
    checks = [{"check": "reject_rate", "table": "staging_events", "value": "0.05"}]
    with (
        mock.patch.object(alerts, "failed_checks", return_value=checks),
        mock.patch("airflow.providers.http.notifications.http.HttpNotifier.notify") as http,
        mock.patch("airflow.providers.smtp.notifications.smtp.SmtpNotifier.notify") as smtp,
    ):
        alerts.PartitionFailureNotifier().notify(_context())
    assert http.call_count == 1
    assert smtp.call_count == 1


def test_notify_without_a_channel_sends_nothing(monkeypatch):
    monkeypatch.delenv("SPARKIFY_ALERT_CHANNELS", raising=False)
    with mock.patch("airflow.providers.http.notifications.http.HttpNotifier.notify") as http:
        alerts.PartitionFailureNotifier().notify(_context())
    http.assert_not_called()


def test_a_partition_that_is_not_an_hour_has_no_checks_to_read():
    assert alerts.failed_checks(None) == []
    assert alerts.failed_checks("manual__x") == []


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("2018-11-21T03:00:00", "2018-11-21T03:00:00"),
        ("2018-11-21T03:00:00/2018-11-21T06:00:00", "2018-11-21T03:00:00/2018-11-21T06:00:00"),
        ("<!channel> <https://evil.example|click>", "(not a partition key)"),
        ("2018-11-21T03:00:00\r\nBcc: everyone@example.com", "(not a partition key)"),
        (None, None),
    ],
)
def test_the_key_an_alert_shows_is_the_parsed_one_never_the_raw_text(raw, shown):
    alert = alerts.build_alert(_context(key=raw))
    assert alert["partition_key"] == shown
    assert "\n" not in alert["subject"]
    assert "\r" not in alert["subject"]
    assert "evil" not in alert["text"]
    assert "Bcc" not in alert["subject"]


def test_outside_text_cannot_mention_a_channel_link_or_break_a_line(monkeypatch):
    monkeypatch.setenv("SPARKIFY_UI_URL", "http://airflow.local")
    hostile = "<!channel> <https://evil.example|log in> & \r\nforged: line"
    checks = [{"check": hostile, "table": "songplays", "value": hostile}]
    context = {**_context(), "reason": hostile}
    alert = alerts.build_alert(context, checks=checks)
    # Slack's markup is shown as text: every < and > of the outside text is an entity.
    assert "<" not in alert["text"]
    assert ">" not in alert["text"]
    assert "&lt;!channel&gt;" in alert["text"]
    assert "&amp;" in alert["text"]
    # Outside text stays on its line: the text's lines are the three we write.
    lines = alert["plain"].split("\n")
    assert len(lines) == 3
    assert lines[1].startswith("run: ")
    assert lines[2].startswith("health: ")
    assert "\r" not in alert["plain"]
    assert (
        alert["checks"][0]["value"] == "<!channel> <https://evil.example|log in> &   forged: line"
    )


def test_a_hostile_run_id_and_dag_id_are_encoded_in_links(monkeypatch):
    monkeypatch.setenv("SPARKIFY_UI_URL", "http://airflow.local")
    context = {
        "dag_run": SimpleNamespace(
            dag_id="quality/../x", run_id="r\r\n<x>", partition_key="2018-11-21T03:00:00"
        ),
        "reason": "r",
    }
    alert = alerts.build_alert(context)
    assert alert["run_url"] == "http://airflow.local/dags/quality%2F..%2Fx/runs/r%0D%0A%3Cx%3E"


def test_one_line_bounds_and_flattens():
    assert alerts.one_line("a\nb\tc\x00d\x85e") == "a b c d e"
    assert len(alerts.one_line("x" * 10_000)) == alerts.ONE_LINE_MAX


def test_links_fall_back_to_airflows_configured_base_url(monkeypatch):
    from airflow.configuration import conf

    monkeypatch.delenv("SPARKIFY_UI_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    monkeypatch.setattr(conf, "get", lambda *a, **k: "https://airflow.example.com/ui/")
    assert alerts.ui_base() == "https://airflow.example.com/ui"
    assert alerts.ui_base({"SPARKIFY_UI_URL": "http://mine/"}) == "http://mine"
    assert alerts.ui_base({}) == ""  # a mapping given: only it is read
