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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shuffle",
        nargs="?",
        const="random",
        default=None,
        metavar="SEED",
        help="run in a random order: the modules shuffled, and the tests within each; "
        "the seed is printed in the header, and --shuffle=SEED repeats that order",
    )


def _shuffle_seed(config: pytest.Config) -> int | None:
    import random

    value = config.getoption("--shuffle")
    if value is None:
        return None
    if not hasattr(config, "_sparkify_shuffle_seed"):
        config._sparkify_shuffle_seed = (  # type: ignore[attr-defined]
            random.SystemRandom().randrange(10**6) if value == "random" else int(value)
        )
    return config._sparkify_shuffle_seed  # type: ignore[attr-defined]


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = _shuffle_seed(config)
    return None if seed is None else f"shuffled: --shuffle={seed} repeats this order"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--shuffle``: modules in a random order, tests within each too (a module's
    fixtures are then made once, as in file order)."""
    import random

    seed = _shuffle_seed(config)
    if seed is None:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:  # shown with -q too, where the header is not
        reporter.write_line(f"shuffled: --shuffle={seed} repeats this order")
    rng = random.Random(seed)
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    groups = list(modules.values())
    rng.shuffle(groups)
    for group in groups:
        rng.shuffle(group)
    items[:] = [item for group in groups for item in group]


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
    """PostgreSQL, the S3 endpoint and a migrated Airflow metadata database; and the alert
    sinks listening, for what the stack's DAGs send."""
    for sink in pytestconfig._sparkify_alert_sinks:  # type: ignore[attr-defined]
        sink.start()
    stack = pytestconfig._sparkify_stack  # type: ignore[attr-defined]
    stack.up(("postgres", "s3", "airflow-db"))
    return stack


@pytest.fixture(scope="session")
def alert_sinks(pytestconfig: pytest.Config):
    """(webhook, smtp): what the session's alerts reached."""
    sinks = pytestconfig._sparkify_alert_sinks  # type: ignore[attr-defined]
    for sink in sinks:
        sink.start()
    return sinks
