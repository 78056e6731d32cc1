"""``sparkify report``: the partition health page of a range as one static HTML file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sparkify.cli.backfill import add_api_options
from sparkify.errors import CliError


def register(subparsers) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report",
        help="the partition health of a range as one HTML file (opens offline)",
        description=(
            "Write the partition health page (run states per DAG and hour, lines per hour, "
            "reject reasons, matched plays, failed checks, charts) of a range to one HTML "
            "file. Run states come from Airflow's REST API (what its user may read), figures "
            "from the SELECT-only warehouse_read connection (AIRFLOW_CONN_WAREHOUSE_READ or a "
            "secrets backend; else warehouse, with a warning; the local stack's own reader "
            "without either)."
        ),
    )
    p.add_argument("--from", dest="first", help="first day YYYY-MM-DD or hour YYYY-MM-DDTHH")
    p.add_argument("--to", dest="last", help="last day or hour, inclusive (default: newest)")
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    add_api_options(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sparkify.cli.backfill import connect  # looked up when run, as backfill's is
    from sparkify.health.report import DsnRecords, write_report

    client = connect(args)
    db_hook = None
    own = ("AIRFLOW_CONN_WAREHOUSE", "AIRFLOW_CONN_WAREHOUSE_READ", "SPARKIFY_API_URL")
    if not args.api_url and not any(os.environ.get(name) for name in own):
        from sparkify.local.stack.stack import Stack  # connect() found the local stack

        stack = Stack()
        try:
            dsn = stack.warehouse_dsn(reader=True)
        except KeyError:  # a stack made before it had a reader: `sparkify stack up` adds it
            print(
                "warning: this stack has no SELECT-only reader yet (run `sparkify stack up`); "
                "reading as the warehouse role",
                file=sys.stderr,
            )
            dsn = stack.warehouse_dsn()
        db_hook = DsnRecords(dsn)
    with client:
        try:
            out = write_report(
                args.out, client=client, first=args.first, last=args.last, db_hook=db_hook
            )
        except (ValueError, PermissionError) as exc:
            raise CliError(str(exc)) from exc
    print(f"report written to {out}")
    return 0
