"""Alerts, as the 3 a.m. user needs them: one per failed partition and DAG, none on retry.

``PartitionFailureNotifier`` is every pipeline DAG's ``on_failure_callback``: Airflow calls
it once when a DAG run fails, after its tasks' retries are spent, so a partition that
fails in three tasks sends one alert, and a task that succeeds on a retry sends none. The
alert carries the DAG, the partition key, the failed task and the reason, the checks that
failed for the partition with the value found (from ``check_results``), and links to the
run and to the health page.

Where it goes is configuration, read when the alert is sent (a DAG file reads nothing when
parsed): ``SPARKIFY_ALERT_CHANNELS``, a comma-separated list of

- ``webhook``: ``POST`` JSON through the http provider's ``HttpNotifier`` to the
  ``http`` connection ``SPARKIFY_ALERT_WEBHOOK_CONN_ID`` (default ``sparkify_alert_webhook``);
  the payload has a ``text`` field, so a Slack incoming webhook's URL works as it is;
- ``smtp``: an e-mail through the smtp provider's ``SmtpNotifier`` over the connection
  ``SPARKIFY_ALERT_SMTP_CONN_ID`` (default ``smtp_default``) to ``SPARKIFY_ALERT_EMAIL_TO``.

Unset or ``none``: no alert (the default, so that nothing is sent before it is set up).
Links use ``SPARKIFY_UI_URL``, else Airflow's ``[api] base_url``.

What an alert says comes partly from outside: the partition key from whoever triggered
the run, check values and failure reasons from the data. So the key is the *parsed* one,
formatted again (``normalised_key``; a key that is not one shows as ``(not a partition
key)``), every other outside text is one line with its control characters replaced
(``one_line``), and the ``text`` a webhook posts is escaped as Slack asks (``&``, ``<``,
``>``), so ``<!channel>`` or a ``<url|label>`` link is shown, never acted on. The payload's
other fields are JSON data, not escaped for any markup. The e-mail has the plain text,
HTML-escaped, and a subject without CR or LF. Notifiers are called with ``notify``, which
renders no template: a ``{{ ... }}`` in outside text stays text.

A partition that hangs fails nothing: each pipeline DAG also carries a ``DeadlineAlert``
(``run_deadline``): a run not finished ``SPARKIFY_RUN_DEADLINE_MINUTES`` (default 120)
after it was queued sends a ``deadline`` alert through the same channels. Airflow drops the
deadline when the run finishes in time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from html import escape
from types import SimpleNamespace
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

CHANNELS = ("webhook", "smtp")
WEBHOOK_CONN_ENV = "SPARKIFY_ALERT_WEBHOOK_CONN_ID"
SMTP_CONN_ENV = "SPARKIFY_ALERT_SMTP_CONN_ID"


class AlertConfigError(ValueError):
    """The alert settings name an unknown channel or leave out what one needs."""


def channels(environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    raw = environ.get("SPARKIFY_ALERT_CHANNELS", "none")
    chosen = [c.strip() for c in raw.split(",") if c.strip() and c.strip() != "none"]
    unknown = sorted(set(chosen) - set(CHANNELS))
    if unknown:
        raise AlertConfigError(
            f"SPARKIFY_ALERT_CHANNELS names {unknown}; choose from {', '.join(CHANNELS)} or none"
        )
    if "smtp" in chosen and not environ.get("SPARKIFY_ALERT_EMAIL_TO"):
        raise AlertConfigError("the smtp alert channel needs SPARKIFY_ALERT_EMAIL_TO")
    return chosen


def ui_base(environ: Mapping[str, str] | None = None) -> str:
    """The base of the links to Airflow's UI: ``SPARKIFY_UI_URL``, else Airflow's
    ``[api] base_url`` (its environment variable, else its configuration)."""
    environ = os.environ if environ is None else environ
    base = environ.get("SPARKIFY_UI_URL") or environ.get("AIRFLOW__API__BASE_URL", "")
    if not base and environ is os.environ:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback="") or ""
    return base.rstrip("/")


ONE_LINE_MAX = 300  # characters of one outside text in an alert


def one_line(text: object, limit: int = ONE_LINE_MAX) -> str:
    """``text`` on one line: control characters (CR, LF, tab, NUL, ...) become spaces,
    and at most ``limit`` characters are kept."""
    out = "".join(" " if (ord(c) < 32 or 127 <= ord(c) < 160) else c for c in str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def slack_escaped(text: str) -> str:
    """Text as Slack's message formatting asks: ``&``, ``<`` and ``>`` as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def normalised_key(partition_key: object) -> str | None:
    """The run's partition key parsed and formatted again (an hour or a window), ``None``
    for no key, ``(not a partition key)`` for anything else: never the raw text."""
    from sparkify.pipeline import partitions

    if partition_key is None or partition_key == "":
        return None
    try:
        window = partitions.parse_window(str(partition_key))
    except partitions.PartitionKeyError:
        return "(not a partition key)"
    return window.key


def failed_checks(partition_key: str | None) -> list[dict[str, str]]:
    """What ``check_results`` holds as failed for the partition (empty when it has none)."""
    from sparkify.pipeline import partitions
    from sparkify.pipeline.sql import render, statements
    from sparkify.pipeline.warehouse import hook, hook_dialect

    try:
        # A window's checks are recorded under its first hour (check_results.partition_hour).
        hour = partitions.parse_window(partition_key).start
    except partitions.PartitionKeyError:
        return []
    db_hook = hook()
    (sql,) = statements(render("health/read_partition_failures", hook_dialect(db_hook)))
    rows = db_hook.get_records(sql, parameters={"partition_hour": partitions.naive_utc(hour)})
    seen, found = set(), []
    for check, table, value, _when in rows:
        if (check, table) not in seen:
            seen.add((check, table))
            found.append({"check": check, "table": table, "value": value or ""})
    return found


def build_alert(
    context: Mapping[str, Any],
    *,
    checks: list[dict[str, str]] | None = None,
    kind: str = "failure",
) -> dict:
    """The alert's content, from the callback's context; ``kind`` is ``failure`` (the run
    failed) or ``deadline`` (it is not done in time)."""
    from urllib.parse import quote

    dag_run = context.get("dag_run")
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = one_line(getattr(dag_run, "dag_id", None) or getattr(dag, "dag_id", "?"))
    run_id = str(getattr(dag_run, "run_id", None) or context.get("run_id") or "?")
    key = normalised_key(getattr(dag_run, "partition_key", None))
    task_id = getattr(ti, "task_id", None)
    task_id = one_line(task_id) if task_id else None
    reason = one_line(context.get("reason") or "")
    base = ui_base()
    run_url = f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    health_url = f"{base}/sparkify/"
    if key and key[0].isdigit():  # an hour or a window: the page opens on its first hour
        health_url += f"?from={key[:13]}&to={key[:13]}"
    checks = [{name: one_line(value) for name, value in c.items()} for c in checks or []]
    found = "; ".join(f"{c['check']} on {c['table']} found {c['value']}" for c in checks)
    what = "failed" if kind == "failure" else "missed its deadline"
    plain = (
        f"sparkify: {dag_id} {what} for partition {key or '(none)'}"
        + (f" in task {task_id}" if task_id else "")
        + (f": {found}" if found else (f": {reason}" if reason else ""))
        + f"\nrun: {run_url}\nhealth: {health_url}"
    )
    return {
        "kind": kind,
        "subject": one_line(f"sparkify: {dag_id} {what} for {key or '(no partition)'}"),
        "text": slack_escaped(plain),
        "plain": plain,
        "dag_id": dag_id,
        "partition_key": key,
        "run_id": run_id,
        "task_id": task_id,
        "reason": reason,
        "checks": checks,
        "run_url": run_url,
        "health_url": health_url,
    }


def send(alert: dict, context: Any, log: Any) -> list[str]:
    """Send ``alert`` through every configured channel; returns the channels used."""
    chosen = channels()
    for channel in chosen:
        if channel == "webhook":
            from airflow.providers.http.notifications.http import HttpNotifier

            notifier: BaseNotifier = HttpNotifier(
                http_conn_id=os.environ.get(WEBHOOK_CONN_ENV, "sparkify_alert_webhook"),
                json=alert,
            )
        else:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            notifier = SmtpNotifier(
                to=os.environ["SPARKIFY_ALERT_EMAIL_TO"],
                smtp_conn_id=os.environ.get(SMTP_CONN_ENV, "smtp_default"),
                subject=alert["subject"],
                html_content="<pre>" + escape(alert["plain"]) + "</pre>",
            )
        notifier.notify(context)
        log.info("alert sent by %s: %s", channel, alert["subject"])
    return chosen


class PartitionFailureNotifier(BaseNotifier):
    """Send one alert for a failed DAG run through the configured channels (see module)."""

    def notify(self, context: Any) -> None:
        if not channels():
            self.log.info("no alert channel configured (SPARKIFY_ALERT_CHANNELS)")
            return
        dag_run = context.get("dag_run")
        try:
            checks = failed_checks(getattr(dag_run, "partition_key", None))
        except Exception:  # an alert without the checks beats no alert
            self.log.exception("could not read the partition's failed checks")
            checks = []
        send(build_alert(context, checks=checks), context, self.log)


async def deadline_missed(context: dict, **_kwargs: Any) -> None:
    """The ``DeadlineAlert`` callback (in the triggerer): a run of a partition is not done
    ``SPARKIFY_RUN_DEADLINE_MINUTES`` after it was queued. ``context["dag_run"]`` is the
    run as the REST API describes it."""
    import asyncio
    import logging

    run = context.get("dag_run") or {}
    dag_run = SimpleNamespace(
        dag_id=run.get("dag_id"),
        run_id=run.get("dag_run_id"),
        partition_key=run.get("partition_key"),
    )
    deadline = (context.get("deadline") or {}).get("deadline_time")
    alert = build_alert(
        {"dag_run": dag_run, "reason": f"not finished by its deadline {deadline}"},
        kind="deadline",
    )
    log = logging.getLogger(__name__)
    await asyncio.to_thread(send, alert, {"dag_run": dag_run}, log)


DEFAULT_RUN_DEADLINE_MINUTES = 120.0


def run_deadline(environ: Mapping[str, str] | None = None):
    """The ``DeadlineAlert`` of a pipeline DAG: a run not done this long after it was queued.

    The interval is read from ``SPARKIFY_RUN_DEADLINE_MINUTES`` when the DAG file is parsed
    (the environment only: parsing reads no file).
    """
    from datetime import timedelta

    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    environ = os.environ if environ is None else environ
    raw = environ.get("SPARKIFY_RUN_DEADLINE_MINUTES", str(DEFAULT_RUN_DEADLINE_MINUTES))
    try:
        minutes = float(raw)
    except ValueError:
        raise AlertConfigError(f"SPARKIFY_RUN_DEADLINE_MINUTES {raw!r} is not a number") from None
    if minutes <= 0:
        raise AlertConfigError("SPARKIFY_RUN_DEADLINE_MINUTES must be positive")
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=minutes),
        callback=AsyncCallback(deadline_missed),
        name="sparkify_run_deadline",
    )
