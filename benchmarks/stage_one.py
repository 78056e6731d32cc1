"""Stage one object in a process of its own; print its peak RSS.

``python -m benchmarks.stage_one KEY DSN BUCKET``
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import psycopg

from benchmarks.common import s3_client
from sparkify.pipeline.staging import postgres
from sparkify.pipeline.staging.objects import S3Objects


def main(key: str, dsn: str, bucket: str) -> None:
    source = S3Objects(s3_client(), bucket)
    objects = [o for o in source.list(key)]
    with psycopg.connect(dsn) as conn:
        stats = postgres.stage_events(
            conn, source, objects, datetime(2018, 11, 2, tzinfo=UTC), force=True
        )
    print(json.dumps({"rows": stats.read, "peak_rss_mb": round(peak_rss_kb() / 1024, 1)}))


def peak_rss_kb() -> int:
    """This process's own high-water RSS (VmHWM). Not ``ru_maxrss``: that one carries over
    the parent's peak across fork and exec, so a big parent would inflate it."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    main(*sys.argv[1:4])
