"""Peak RSS of staging one object, and of one four times larger, each in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def peak(stack, key: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.stage_one", key, stack.warehouse_dsn(), stack.bucket],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(stack, key_1x: str, key_4x: str) -> dict[str, Any]:
    small = peak(stack, key_1x)
    large = peak(stack, key_4x)
    return {
        "staging_peak_rss_mb": max(small["peak_rss_mb"], large["peak_rss_mb"]),
        "staging_peak_rss_mb_1x": small["peak_rss_mb"],
        "staging_peak_rss_mb_4x": large["peak_rss_mb"],
        "staging_rows_1x": small["rows"],
        "staging_rows_4x": large["rows"],
    }
