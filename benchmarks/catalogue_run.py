"""One ``stage_songs`` run over announced song files, in a process of its own; prints its
time (the staging call alone) and peak RSS.

``python -m benchmarks.catalogue_run DSN BUCKET KEYS_JSON_FILE HOUR``
"""

from __future__ import annotations

import json
import logging
import sys
import time

import psycopg

from benchmarks.common import s3_client
from benchmarks.stage_one import peak_rss_kb
from sparkify.pipeline import partitions
from sparkify.pipeline import settings as settings_module
from sparkify.pipeline.operators.stage import source_pattern, stage_window
from sparkify.pipeline.staging.objects import S3Objects


class Hook:
    """What ``stage_window`` asks of a warehouse hook: its type and a connection."""

    conn_type = "postgres"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def get_conn(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn)


def main(dsn: str, bucket: str, keys_file: str, hour: str) -> None:
    with open(keys_file) as handle:
        keys = json.load(handle)
    source = S3Objects(s3_client(), bucket)
    window = partitions.parse_window(hour)
    settings = settings_module.current()
    started = time.perf_counter()
    (stats,) = stage_window(
        "json_object",
        window,
        source_pattern("json_object", settings),
        source=source,
        db_hook=Hook(dsn),
        settings=settings,
        log=logging.getLogger("benchmarks.catalogue"),
        song_keys=keys,
    )
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": round(seconds, 4),
                "staged": stats.staged,
                "objects": stats.objects,
                "peak_rss_mb": round(peak_rss_kb() / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
