"""Staging throughput: our loader against pandas ``to_sql``, ``executemany`` and the limit.

All contenders read the same object from the local S3 endpoint and write to the same
PostgreSQL server. ``to_sql`` and ``executemany`` run on a prefix of the object (they are
slow enough that rows/s is steady long before a million rows); ours and the limit on all of it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg

from benchmarks.common import alternate, median
from sparkify.pipeline.records import EVENT_COLUMNS, EventParser, Reject, strip_line
from sparkify.pipeline.staging import postgres
from sparkify.pipeline.staging.lines import numbered_lines
from sparkify.pipeline.staging.objects import S3Objects

HOUR = datetime(2018, 11, 1, 0, tzinfo=UTC)
SMALL = {"to_sql": 100_000, "executemany": 20_000}
COLUMNS = ", ".join(EVENT_COLUMNS)


def _reset(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute(
            "TRUNCATE staging_events, staging_rejects, load_ledger, staging_partitions, "
            "bench_events, bench_events_ix"
        )


def _lines(source: S3Objects, key: str, limit: int | None = None):
    for n, raw in numbered_lines(source.chunks(key)):
        if limit is not None and n > limit:
            return
        yield strip_line(raw)


def run(stack, key: str, repeats: int = 3) -> dict[str, Any]:
    from benchmarks.common import s3_client

    source = S3Objects(s3_client(), stack.bucket)
    objects = [o for o in source.list("bench/") if o.key == key]
    conn = psycopg.connect(stack.warehouse_dsn())
    conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_events AS SELECT * FROM staging_events WITH NO DATA"
    )
    # The same, with the two indexes the staging contract needs (global uniqueness of an
    # event, replacing a partition): what COPY costs once they must be maintained.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_events_ix AS SELECT * FROM staging_events WITH NO DATA"
    )
    conn.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS bench_ix_uq ON bench_events_ix "
        "(session_id, item_in_session)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS bench_ix_part ON bench_events_ix (partition_hour)")
    conn.commit()
    parser = EventParser()
    parsed = [parser.parse(line) for line in _lines(source, key)]
    rows_in_memory = [r for r in parsed if not isinstance(r, Reject)]
    n_rows = len(rows_in_memory)
    del parsed

    def ours() -> int:
        _reset(conn)
        stats = postgres.stage_events(conn, source, objects, HOUR, force=True)
        return stats.read

    def limit() -> int:
        _reset(conn)
        copy_sql = f"COPY bench_events ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
            copy.set_types(postgres.EVENT_COPY_TYPES)
            for row in rows_in_memory:
                copy.write_row(row)
        return len(rows_in_memory)

    def limit_indexed() -> int:
        _reset(conn)
        copy_sql = (
            f"COPY bench_events_ix (partition_hour, source_key, line_no, {COLUMNS}) "
            "FROM STDIN (FORMAT BINARY)"
        )
        hour = HOUR.replace(tzinfo=None)
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
            copy.set_types(postgres.DIRECT_COPY_TYPES)
            for n, row in enumerate(rows_in_memory):
                copy.write_row((hour, key, n, *row))
        return len(rows_in_memory)

    def executemany() -> int:
        _reset(conn)
        rows = [parser.parse(line) for line in _lines(source, key, SMALL["executemany"]) if line]
        placeholders = ", ".join(["%s"] * len(EVENT_COLUMNS))
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(f"INSERT INTO bench_events ({COLUMNS}) VALUES ({placeholders})", rows)
        return len(rows)

    engine = _engine(stack)

    def to_sql() -> int:
        import pandas as pd

        _reset(conn)
        records = [json.loads(line) for line in _lines(source, key, SMALL["to_sql"]) if line]
        frame = pd.DataFrame.from_records(records)
        frame.to_sql("bench_to_sql", engine, if_exists="replace", index=False, chunksize=10_000)
        return len(frame)

    rates = alternate(
        {
            "ours": ours,
            "to_sql": to_sql,
            "executemany": executemany,
            "limit": limit,
            "limit_indexed": limit_indexed,
        },
        repeats,
    )
    del rows_in_memory[:]  # a million tuples: free them before the memory benchmark
    conn.close()
    engine.dispose()
    medians = {name: median(values) for name, values in rates.items()}
    return {
        "staging_rows_per_s": round(medians["ours"]),
        "to_sql_rows_per_s": round(medians["to_sql"]),
        "executemany_rows_per_s": round(medians["executemany"]),
        "copy_limit_rows_per_s": round(medians["limit"]),
        "copy_limit_indexed_rows_per_s": round(medians["limit_indexed"]),
        "staging_vs_limit_indexed": round(medians["ours"] / medians["limit_indexed"], 2),
        "staging_vs_to_sql": round(medians["ours"] / medians["to_sql"], 1),
        "staging_vs_limit": round(medians["ours"] / medians["limit"], 2),
        "staging_rows": n_rows,
        "staging_runs": {k: [round(v) for v in vs] for k, vs in rates.items()},
    }


def _engine(stack):
    import sqlalchemy

    cfg = stack.config
    from sparkify.local.stack.config import HOST, WAREHOUSE_DB, WAREHOUSE_ROLE

    url = sqlalchemy.engine.URL.create(
        "postgresql+psycopg",
        username=WAREHOUSE_ROLE,
        password=cfg["secrets"]["warehouse_password"],
        host=HOST,
        port=cfg["ports"]["postgres"],
        database=WAREHOUSE_DB,
    )
    return sqlalchemy.create_engine(url)
