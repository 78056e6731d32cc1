"""``sparkify report``: the partition health page of a range as one static HTML file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sparkify.cli.backfill import add_api_options, connect
from sparkify.errors import CliError


def register(subparsers) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report",
        help="the partition health of a range as one HTML file (opens offline)",
        description=(
            "Write the partition health page (run states per DAG and hour, lines per hour, "
            "reject reasons, matched plays, failed checks, charts) of a range to one HTML "
            "file. Run states come from Airflow's REST API, figures from the warehouse "
            "connection (AIRFLOW_CONN_WAREHOUSE or a secrets backend; the local stack's own "
            "without either)."
        ),
    )
    p.add_argument("--from", dest="first", help="first day YYYY-MM-DD or hour YYYY-MM-DDTHH")
    p.add_argument("--to", dest="last", help="last day or hour, inclusive (default: newest)")
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    add_api_options(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sparkify.health.report import DsnRecords, write_report

    client = connect(args)
    db_hook = None
    if not os.environ.get("AIRFLOW_CONN_WAREHOUSE") and not (
        args.api_url or os.environ.get("SPARKIFY_API_URL")
    ):
        from sparkify.local.stack.stack import Stack  # connect() found the local stack

        db_hook = DsnRecords(Stack().warehouse_dsn(reader=True))
    with client:
        try:
            out = write_report(
                args.out, client=client, first=args.first, last=args.last, db_hook=db_hook
            )
        except (ValueError, PermissionError) as exc:
            raise CliError(str(exc)) from exc
    print(f"report written to {out}")
    return 0
