"""Fixtures of the unit tests of the local stack (``tests/unit/test_stack*.py``)."""

from __future__ import annotations

import os

import pytest

from sparkify.local.stack.config import PORT_ENV


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stack settings from the test session's environment."""
    for var in (
        *PORT_ENV.values(), "SPARKIFY_BUCKET", "SPARKIFY_HOME", "SPARKIFY_DAGS_FOLDER",
        "SPARKIFY_EVENTS_PREFIX", "SPARKIFY_SONGS_PREFIX",
    ):  # fmt: skip
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def open_umask():
    """The loosest umask (0000): the modes asserted come from the stack, not the umask."""
    before = os.umask(0)
    yield
    os.umask(before)
