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
