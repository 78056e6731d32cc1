"""One ``Health`` for a range: the warehouse's figures and Airflow's run states together."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sparkify.health.model import DATASET_DAGS, GRID_DAGS, Health, Run, parse_range
from sparkify.health.warehouse import OneConnection, newest_hours, read_warehouse

# (first hour, last hour, the DAGs to read) -> dag -> hour -> its latest run
RunSource = Callable[[datetime, datetime, tuple[str, ...]], dict[str, dict[datetime, Run]]]


def gather(
    first: str | None,
    last: str | None,
    *,
    runs: RunSource,
    db_hook: Any = None,
    now: datetime | None = None,
    dags: tuple[str, ...] = GRID_DAGS,
) -> Health:
    """The health of ``first`` .. ``last`` (texts as the range picker takes them; missing,
    the seven days that end at the newest hour with staged events, so that the page opens
    on the data and not on the empty hours the live clock stages after it), as a reader who
    may see ``dags`` sees it: their runs and the figures they produced, nothing else.

    :param runs: where run states come from (``runs.runs_from_metadata`` or a REST client's)
    :param db_hook: the warehouse's DB-API hook (default: ``warehouse.reader_hook()``)
    :raises ValueError: for a range the user wrote wrong
    """
    from concurrent.futures import ThreadPoolExecutor

    from sparkify.pipeline.warehouse import hook_dialect, reader_hook

    dags = tuple(d for d in GRID_DAGS if d in dags)
    db_hook = db_hook if db_hook is not None else reader_hook()
    dialect = hook_dialect(db_hook)
    now = now or datetime.now(UTC)
    with OneConnection(db_hook) as records:
        newest = None
        if (first is None or last is None) and DATASET_DAGS["events"] in dags:
            floor = now.replace(minute=0, second=0, microsecond=0)
            newest, _staged = newest_hours(records, dialect, floor)
        start, end = parse_range(first, last, newest, now=now)
        health = Health(start, end, dags=dags, generated_at=now)
        # Airflow's run states and the warehouse's figures are two databases: read both at
        # once (each waits on its server, not on this process).
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(runs, start, end, dags)
            read_warehouse(health, records, dialect)
            health.runs = pending.result()
    return health
