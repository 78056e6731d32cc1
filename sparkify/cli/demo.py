"""``sparkify demo``: the command line over ``sparkify.local.demo``, and its output: the
summary (``sparkify.local.summary``) as tables, and as JSON with ``--json``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from sparkify.cli.backfill import when_arg
from sparkify.cli.stack import add_executor_arguments
from sparkify.control import DEFAULT_GRAIN, GRAINS
from sparkify.control.dags import BackfillError
from sparkify.local.demo import DEMO_START, DemoOptions, DemoResult, run_demo
from sparkify.local.summary import LINE_COUNTERS


def register(subparsers) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo",
        help="stack up, synthetic data, setup, backfill, the whole chain, then a summary",
        description=(
            "Bring the local stack up, generate (or take) a data set, land it, run setup, "
            "backfill the staging DAGs over its days and wait for model and quality; print "
            "a summary and exit 1 if any run or check failed."
        ),
    )
    p.add_argument("--source", type=Path, help="a data set in the export layout (else generate)")
    p.add_argument(
        "--from", dest="first", type=when_arg,
        help="first day (or hour) to run; default: the data's first day",
    )  # fmt: skip
    p.add_argument(
        "--to", dest="last", type=when_arg,
        help="last day (or hour), inclusive; default: the data's last day",
    )  # fmt: skip
    p.add_argument("--days", type=int, default=3, help="days to generate (default 3)")
    p.add_argument(
        "--events-per-hour", type=float, default=12.0,
        help="mean events an hour to generate (default 12)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    p.add_argument(
        "--start", type=date.fromisoformat, default=DEMO_START,
        help=f"first day to generate (default {DEMO_START})",
    )  # fmt: skip
    p.add_argument(
        "--grain", choices=GRAINS, default=DEFAULT_GRAIN,
        help="backfill one run per hour, per UTC day, or (default) one for the whole range "
        "(windows of at most 92 days)",
    )  # fmt: skip
    p.add_argument("--json", dest="json_path", type=Path, help="also write the summary here")
    p.add_argument("--down", action="store_true", help="stop the stack at the end")
    p.add_argument(
        "--timeout", type=float, default=3600.0,
        help="seconds to wait for the pipeline (default 3600)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--warehouse",
        choices=("postgres", "redshift"),
        help="postgres, or redshift: the Redshift rehearsal (default: the stack's, else postgres)",
    )
    add_executor_arguments(p)
    live = p.add_argument_group("live (--live: no backfill; events of now, landed as they arrive)")
    live.add_argument(
        "--live", action="store_true",
        help="land generated events of the current time, an object every --interval "
        "seconds for --minutes, and time the event path from upload to quality",
    )  # fmt: skip
    live.add_argument("--minutes", type=float, default=3.0, help="how long to land (default 3)")
    live.add_argument(
        "--interval", type=float, default=20.0,
        help="seconds between two objects (default 20)",
    )  # fmt: skip
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sparkify.local.stack.config import ADMIN_USER
    from sparkify.local.stack.stack import Stack

    if args.live:
        return _run_live(args)
    if args.days < 1 or args.events_per_hour < 0:
        raise BackfillError("--days must be at least 1 and --events-per-hour not negative")
    console = Console(stderr=True)
    options = DemoOptions(
        source=args.source,
        first=args.first,
        last=args.last,
        days=args.days,
        grain=args.grain,
        events_per_hour=args.events_per_hour,
        seed=args.seed,
        start=args.start,
        down=args.down,
        timeout=args.timeout,
        progress=not args.quiet and sys.stderr.isatty(),
        warehouse=args.warehouse,
        executor=args.executor,
        workers=args.workers,
    )
    stack = Stack()
    result = run_demo(options, stack=stack, echo=lambda m: console.print(m), console=console)
    if args.json_path is not None:
        write_json(args.json_path, result.summary)
    render_summary(result, Console(), len(result.keys))
    if args.json_path:
        print(f"summary written to {args.json_path}")
    if result.report_path is not None:
        print(f"partition health report: {result.report_path}")
    if not args.down:
        print(f"Airflow UI: {stack.api_url}  login: {ADMIN_USER} / {stack.admin_password}")
        print("The stack keeps running: `sparkify stack down` stops it.")
    for problem in result.problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 0 if result.ok else 1


def _run_live(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sparkify.local.live import LiveOptions, render_live, run_live
    from sparkify.local.stack.stack import Stack

    if args.minutes <= 0 or args.interval <= 0:
        raise BackfillError("--minutes and --interval must be positive")
    console = Console(stderr=True)
    options = LiveOptions(
        minutes=args.minutes,
        interval=args.interval,
        seed=args.seed,
        down=args.down,
        json_path=args.json_path,
    )
    result = run_live(options, stack=Stack(), echo=lambda m: console.print(m))
    render_live(result, Console())
    if args.json_path:
        print(f"summary written to {args.json_path}")
    for problem in result.problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 0 if result.ok else 1


def write_json(path: Path, summary: dict[str, Any]) -> None:
    """The summary as the ``--json`` document, its keys in the agreed order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = ("warehouse", "tables", "outside_range", "songplays_matched", "lines", "runs")
    names += ("checks",)
    ordered = {k: summary[k] for k in names if k in summary}
    ordered |= {k: summary[k] for k in ("executor", "workers") if k in summary}
    ordered |= {k: summary[k] for k in ("steps_s",) if k in summary}
    path.write_text(json.dumps({**ordered, "seconds": summary["seconds"]}, indent=2) + "\n")


def render_summary(result: DemoResult, console: Any, partitions_expected: int) -> None:
    """The summary as rich tables."""
    from rich.table import Table

    summary = result.summary
    outside = summary.get("outside_range", {})
    tables = Table(title="Warehouse (every row, not only the range's)", title_justify="left")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    if any(outside.values()):
        tables.add_column("of them outside the range", justify="right")
    for name, count in summary["tables"].items():
        if any(outside.values()):
            away = outside.get(name)
            tables.add_row(name, f"{count:,}", "" if away is None else f"[yellow]{away:,}[/]")
        else:
            tables.add_row(name, f"{count:,}")
    tables.add_row("songplays matched to a song", f"{summary['songplays_matched']:,}")
    if any(outside.values()):
        tables.caption = (
            "The warehouse held rows outside the range too (an earlier run, or the live "
            "schedule's hour): the counts above include them."
        )

    lines = Table(title="Event lines of the range", title_justify="left")
    for name in LINE_COUNTERS:
        lines.add_column(name, justify="right")
    lines.add_row(*(f"{summary['lines'][name]:,}" for name in LINE_COUNTERS))

    runs = Table(title=f"Runs ({partitions_expected} keys each)", title_justify="left")
    for name, justify in (("DAG", "left"), ("success", "right"), ("failed", "right")):
        runs.add_column(name, justify=justify)  # type: ignore[arg-type]
    runs.add_column("unfinished", justify="right")
    for dag_id, counts in summary["runs"].items():
        unfinished = partitions_expected - counts["success"] - counts["failed"]
        runs.add_row(
            dag_id,
            str(counts["success"]),
            f"[red]{counts['failed']}[/]" if counts["failed"] else "0",
            f"[yellow]{unfinished}[/]" if unfinished else "0",
        )

    checks = Table(title="Checks", title_justify="left")
    checks.add_column("passed", justify="right")
    checks.add_column("failed", justify="right")
    failed = summary["checks"]["failed"]
    checks.add_row(str(summary["checks"]["passed"]), f"[red]{failed}[/]" if failed else "0")

    timings = Table(title="Seconds", title_justify="left")
    for name in result.timings:
        timings.add_column(name, justify="right")
    timings.add_row(*(f"{value:.1f}" for value in result.timings.values()))

    printed = [tables, lines, runs, checks]
    if "workers" in summary:
        workers = Table(
            title=f"Task instances per host ({summary['executor']})", title_justify="left"
        )
        workers.add_column("hostname")
        workers.add_column("task instances", justify="right")
        for host, count in summary["workers"].items():
            workers.add_row(host, str(count))
        printed.append(workers)
    for table in (*printed, timings):
        console.print(table)
