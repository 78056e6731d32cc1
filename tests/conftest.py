"""Test tiers share one local stack, configured before Airflow is first imported.

Airflow reads its configuration when it is imported, so the stack's ports and secrets are
chosen in ``pytest_configure`` and exported to this process's environment; the stack itself
starts only when a test of the integration or end-to-end tier asks for it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

STATE_DIR = Path(tempfile.gettempdir()) / f"sparkify-tests-{os.getpid()}"


def pytest_configure(config: pytest.Config) -> None:
    from sparkify.local.stack.stack import Stack

    # The end-to-end test of late data waits for restage_late: every minute, not every five.
    os.environ.setdefault("SPARKIFY_LATE_CHECK_CRON", "* * * * *")
    # The deadline alert's test waits for a queued run to pass its deadline: one minute.
    os.environ.setdefault("SPARKIFY_RUN_DEADLINE_MINUTES", "1")
    # The session's stack stages on the schedule only: its bucket still notifies its queue,
    # but nothing consumes it, so the tests that land files and start runs themselves see
    # only their own runs. tests/e2e/test_events_end_to_end.py runs a stack of its own with
    # notifications on.
    os.environ.setdefault("SPARKIFY_INGEST", "schedule")
    # Its api-server asks an auth manager with per-user DAG grants (tests/auth_grants.py):
    # the health page's tests log in as users who may read some DAGs, or none.
    from sparkify.local.stack.config import ADMIN_USER
    from tests.auth_grants import stack_environ

    stack = Stack(STATE_DIR, environ=stack_environ(ADMIN_USER))
    stack.init_config()  # ports and secrets now; processes later, only if needed
    os.environ.update(stack.env())
    config._sparkify_stack = stack  # type: ignore[attr-defined]
    # Every alert the session's DAGs send (the scheduler's and dag.test()'s) goes to these.
    from tests.alert_sinks import SmtpSink, WebhookSink, alert_environment

    sinks = (WebhookSink(), SmtpSink())
    os.environ.update(alert_environment(*sinks))
    config._sparkify_alert_sinks = sinks  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    for sink in getattr(config, "_sparkify_alert_sinks", ()):
        sink.stop()
    stack = getattr(config, "_sparkify_stack", None)
    if stack is None:
        return
    # Close this process's pooled connections to the metadata database while its server is
    # still up; at exit Airflow would roll them back against a stopped server, and print why.
    airflow_settings = sys.modules.get("airflow.settings")
    if airflow_settings is not None:
        airflow_settings.dispose_orm()
    try:
        stack.down()
    finally:
        shutil.rmtree(STATE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(pytestconfig: pytest.Config):
    """PostgreSQL, the S3 endpoint and a migrated Airflow metadata database."""
    stack = pytestconfig._sparkify_stack  # type: ignore[attr-defined]
    stack.up(("postgres", "s3", "airflow-db"))
    return stack


@pytest.fixture(scope="session")
def alert_sinks(pytestconfig: pytest.Config):
    """(webhook, smtp): what the session's alerts reached."""
    return pytestconfig._sparkify_alert_sinks  # type: ignore[attr-defined]
