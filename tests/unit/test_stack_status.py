"""``Stack.status`` (``sparkify.local.stack.status``)."""

from __future__ import annotations

import json
from pathlib import Path

from sparkify.local.stack.stack import Stack


def test_status_of_a_missing_stack_is_all_stopped(tmp_path: Path):
    parts = Stack(tmp_path / "none").status()
    assert {p["state"] for p in parts.values()} == {"stopped"}
    assert not any(p["healthy"] or p["wanted"] for p in parts.values())


def test_cli_status_fails_when_nothing_runs(monkeypatch, tmp_path, capsys):
    from sparkify.cli.main import main

    monkeypatch.setenv("SPARKIFY_HOME", str(tmp_path))
    assert main(["stack", "status", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["postgres"]["state"] == "stopped"
