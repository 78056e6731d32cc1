"""A month backfilled: a generated month at the real data's density through all four DAGs.

November generated in the original export layout at the course data's density (about 11
events an hour, 8,056 in its month; a catalogue of 14,896 song files, the real one's), then
``sparkify demo --source DIR --from 2018-11-01 --to 2018-11-30 --grain G`` on a private
full stack (``run_demo``: stack up, ``setup``, landing, the backfill, ``model`` and
``quality`` by their Assets), once per grain, each on a fresh stack. The counts must be
exact (the generator manifest's, and ``raw_counts``' straight from the files) and every
run and check passed, or the part fails.

- ``month_backfill_s``: the whole command at the default grain (stack start and landing
  included: what the user waits for);
- ``month_backfill_s_by_grain``: the same per grain measured, with each step's seconds;
- ``month_backfill_hourly_s_estimate``: the hourly grain, not run (720 runs of each DAG:
  more than an hour here), estimated from the ``backfill`` part's partitions a minute.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.big_day import exact_counts
from benchmarks.raw_counts import compare, raw_counts

FIRST, LAST = date(2018, 11, 1), date(2018, 11, 30)
EVENTS_PER_HOUR = 11.2  # 8,056 events in the real month's 720 hours
SONGS = 14_896
SEED = 3011
TIMEOUT_S = 3600.0


def run(
    grains: Sequence[str],
    *,
    partitions_per_minute: float | None = None,
    echo: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    from sparkify.control import DEFAULT_GRAIN
    from sparkify.local.demo import DemoOptions, run_demo
    from sparkify.local.generate.dataset import generate
    from sparkify.local.stack.stack import Stack

    by_grain: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sparkify-bench-month-", dir="/tmp") as tmp:
        os.chmod(tmp, 0o755)  # PostgreSQL runs as its own user and must enter the stack's
        data = Path(tmp) / "data"
        manifest = generate(
            data,
            start=FIRST,
            days=(LAST - FIRST).days + 1,
            events_per_hour=EVENTS_PER_HOUR,
            songs=SONGS,
            seed=SEED,
        )
        for grain in grains:
            stack = Stack(Path(tmp) / f"stack-{grain}")
            stack.init_config()
            began = time.monotonic()
            try:
                options = DemoOptions(
                    source=data, first=FIRST, last=LAST, grain=grain, timeout=TIMEOUT_S,
                    progress=False,
                )  # fmt: skip
                result = run_demo(options, stack=stack, echo=lambda m: echo(f"  {m}"))
            finally:
                stack.down(purge=True)
            exact = exact_counts(result.summary, manifest)
            # And against the files themselves, counted without the generator or the pipeline.
            differences = compare(raw_counts(data, FIRST, LAST), result.summary)
            if result.problems or not all(exact.values()) or differences:
                raise RuntimeError(
                    f"the month by {grain} failed: {result.problems}, {exact}, {differences}"
                )
            by_grain[grain] = {
                "seconds": round(time.monotonic() - began, 1),
                "steps_s": result.timings,
                "windows": len(result.keys),
                "checks": result.summary["checks"],
            }
    out: dict[str, Any] = {
        "month_backfill_s_by_grain": by_grain,
        "month_backfill_events": manifest["totals"]["events"],
    }
    if DEFAULT_GRAIN in by_grain:
        out["month_backfill_s"] = by_grain[DEFAULT_GRAIN]["seconds"]
        out["month_backfill_grain"] = DEFAULT_GRAIN
    if partitions_per_minute:
        out["month_backfill_hourly_s_estimate"] = round(720 / partitions_per_minute * 60)
    return out
