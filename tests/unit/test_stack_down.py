"""``Stack.down`` (``sparkify.local.stack.down``): a stack without state, the purge."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkify.local.stack.config import (
    StackError,
)
from sparkify.local.stack.stack import Stack


def test_down_without_state_is_a_no_op(tmp_path: Path):
    Stack(tmp_path / "none").down(purge=True)
    assert not (tmp_path / "none").exists()


def test_purge_refuses_a_directory_that_is_not_a_stack(clean_env, tmp_path: Path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(StackError, match="does not look like a stack state directory"):
        Stack(tmp_path).down(purge=True)
    assert (tmp_path / "precious.txt").exists()


def test_purge_deletes_the_state_dir(clean_env, tmp_path: Path):
    stack = Stack(tmp_path / "state")
    stack.init_config()
    stack.down(purge=True)
    assert not stack.state_dir.exists()


def test_purge_deletes_the_state_dir_after_a_demo_wrote_its_report(clean_env, tmp_path: Path):
    stack = Stack(tmp_path / "state")
    stack.init_config()
    (stack.state_dir / "report.html").write_text("<html></html>")  # as the demo leaves it
    stack.down(purge=True)
    assert not stack.state_dir.exists()
