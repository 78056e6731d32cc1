"""Freshness on the event path: ``sparkify demo --live`` on a private full stack.

For ``MINUTES`` an object of generated events of the current time lands every
``INTERVAL`` seconds into the current hour's prefix (and now and then a song file); the
bucket notifies the stack's SQS queue, ``route_notifications``' watcher picks the message
up, and the chain stages, models and checks the hour with no command. Each object's
freshness runs from the end of its upload to the end of the first successful ``quality``
run that covered it (``sparkify.local.live``). Every event sent must be staged exactly once
and every run and check pass, or the part fails.

- ``freshness_p50_s``, ``freshness_p95_s``, ``freshness_max_s``: over the objects;
- ``freshness_schedule_path_s``: the schedule path's, not measured: an object waits for
  its hour to end (``run_offset=-1``), then for the sensor's next poke (60 s), before the
  same chain runs: half an hour on average for an object landed at a random moment.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MINUTES = 3.0
INTERVAL = 20.0


def run(
    *,
    minutes: float = MINUTES,
    interval: float = INTERVAL,
    echo: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    from sparkify.local.live import LiveOptions, run_live
    from sparkify.local.stack.stack import Stack

    with tempfile.TemporaryDirectory(prefix="sparkify-bench-live-", dir="/tmp") as tmp:
        os.chmod(tmp, 0o755)  # PostgreSQL runs as its own user and must enter the stack's
        stack = Stack(Path(tmp) / "stack")
        stack.init_config()
        try:
            result = run_live(
                LiveOptions(minutes=minutes, interval=interval),
                stack=stack,
                echo=lambda m: echo(f"  {m}"),
            )
        finally:
            stack.down(purge=True)
    if result.problems:
        raise RuntimeError(f"the live run failed: {result.problems}")
    fresh = result.summary["freshness_s"]
    return {
        "freshness_p50_s": fresh["p50"],
        "freshness_p95_s": fresh["p95"],
        "freshness_max_s": fresh["max"],
        "freshness_objects": fresh["objects"],
        "freshness_events_sent": result.summary["events_sent"],
        "freshness_schedule_path_s": 60 * 30 + 60,
        "freshness_options": {"minutes": minutes, "interval_s": interval},
    }
