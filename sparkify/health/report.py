"""``sparkify report``'s work: the health page of a range, as one static HTML file.

Charts are inline SVG and the styles inline: the file opens offline (links to runs point
at the Airflow UI it was made from). Run states come through the REST API, the figures
from the warehouse (``warehouse_read`` when it exists). The file holds what the API's
user may read (``access.readable_dags_from_api``), as the page does for its user.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sparkify.health.access import readable_dags_from_api
from sparkify.health.gather import gather
from sparkify.health.page import render, ui_run_link
from sparkify.health.runs import runs_from_api
from sparkify.pipeline import partitions


class DsnRecords:
    """A hook-like ``get_conn`` over a PostgreSQL DSN, for the local stack (no Airflow
    connection needed)."""

    conn_type = "postgres"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def get_conn(self) -> Any:
        import psycopg

        return psycopg.connect(self.dsn)


def write_report(
    out: Path,
    *,
    client: Any,
    first: datetime | str | None,
    last: datetime | str | None,
    db_hook: Any = None,
    ui_base: str | None = None,
) -> Path:
    """Write the health page of ``first`` .. ``last`` to ``out``; returns ``out``.

    :raises PermissionError: the API's user may read none of the pipeline's DAGs
    """
    as_text = lambda w: partitions.format_key(w) if isinstance(w, datetime) else w  # noqa: E731
    dags = readable_dags_from_api(client)
    if not dags:
        raise PermissionError("the API's user may not read the runs of any pipeline DAG")
    health = gather(
        as_text(first),
        as_text(last),
        runs=lambda a, b, d: runs_from_api(client, a, b, d),
        db_hook=db_hook,
        dags=dags,
    )
    html = render(
        health,
        run_link=ui_run_link(ui_base if ui_base is not None else client.base_url),
        title="Sparkify partition health report",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
