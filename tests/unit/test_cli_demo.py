"""``sparkify demo``'s output (``sparkify.cli.demo``): the JSON document and the tables."""

from __future__ import annotations

import json

from sparkify.cli import demo as cli_demo
from sparkify.control import PIPELINE_DAGS
from sparkify.local.demo import DemoResult
from sparkify.local.summary import LINE_COUNTERS, PARTITIONED_TABLES, TABLES


def test_demo_json_has_the_agreed_shape(tmp_path):
    summary = {
        "seconds": 1.5,
        "checks": {"passed": 1, "failed": 0},
        "runs": {d: {"success": 1, "failed": 0} for d in PIPELINE_DAGS},
        "lines": dict.fromkeys(LINE_COUNTERS, 0),
        "songplays_matched": 0,
        "tables": dict.fromkeys(TABLES, 0),
    }
    cli_demo.write_json(tmp_path / "out" / "summary.json", summary)
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(written) == ["tables", "songplays_matched", "lines", "runs", "checks", "seconds"]
    assert list(written["tables"]) == [
        "staging_events", "staging_songs", "songplays", "users", "songs", "artists", "time",
    ]  # fmt: skip
    assert list(written["lines"]) == ["read", "staged", "rejected", "duplicate", "coerced"]


def test_demo_json_adds_the_executor_and_task_instances_per_host(tmp_path):
    summary = {
        "seconds": 1.5,
        "checks": {"passed": 1, "failed": 0},
        "runs": {d: {"success": 1, "failed": 0} for d in PIPELINE_DAGS},
        "lines": dict.fromkeys(LINE_COUNTERS, 0),
        "songplays_matched": 0,
        "tables": dict.fromkeys(TABLES, 0),
        "executor": "CeleryExecutor",
        "workers": {"worker-1@h": 3, "worker-2@h": 2},
    }
    cli_demo.write_json(tmp_path / "summary.json", summary)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert list(written)[-3:] == ["executor", "workers", "seconds"]
    assert written["workers"] == {"worker-1@h": 3, "worker-2@h": 2}


def test_the_demo_says_when_the_warehouse_holds_rows_outside_the_range(tmp_path):
    from rich.console import Console

    summary = {
        "seconds": 1.5,
        "checks": {"passed": 1, "failed": 0},
        "runs": {d: {"success": 1, "failed": 0} for d in PIPELINE_DAGS},
        "lines": dict.fromkeys(LINE_COUNTERS, 0),
        "songplays_matched": 0,
        "tables": dict.fromkeys(TABLES, 5),
        "outside_range": {"staging_events": 0, "staging_songs": 2, "songplays": 0},
        "steps_s": {"stack up": 1.0},
    }
    cli_demo.write_json(tmp_path / "summary.json", summary)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["outside_range"]["staging_songs"] == 2
    assert written["steps_s"] == {"stack up": 1.0}

    def printed(summary) -> str:
        console = Console(record=True, width=120)
        result = DemoResult(summary=summary, keys=["k"], timings={"total": 1.0})
        cli_demo.render_summary(result, console, 1)
        return console.export_text()

    text = printed(summary)
    assert "of them outside the range" in text
    assert "held rows outside the range too" in text
    clean = printed({**summary, "outside_range": dict.fromkeys(PARTITIONED_TABLES, 0)})
    assert "outside the range" not in clean
