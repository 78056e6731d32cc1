"""The ``sparkify stack`` subcommands over ``sparkify.local.stack``."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

from sparkify.local.stack.config import (
    ADMIN_USER,
    COMPONENTS,
    DEFAULT_WORKERS,
    EXECUTORS,
    expand_components,
)

if TYPE_CHECKING:
    import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stack",
        help="the local stack: PostgreSQL, S3 (moto) and Airflow on 127.0.0.1",
        description="The local stack: PostgreSQL, S3 (moto) and Airflow, on 127.0.0.1 only.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start what is not running and wait until healthy")
    up.add_argument(
        "--only",
        metavar="COMPONENTS",
        default=",".join(COMPONENTS),
        help=f"comma-separated subset of {','.join(COMPONENTS)} (default: all)",
    )
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait (default 180)")
    up.add_argument(
        "--warehouse",
        choices=("postgres", "redshift"),
        help="postgres, or redshift: the Redshift rehearsal in front of PostgreSQL "
        "(default: what the stack has, else postgres)",
    )
    add_executor_arguments(up)
    up.set_defaults(func=_cmd_up)
    down = actions.add_parser("down", help="stop every process the stack started")
    down.add_argument("--purge", action="store_true", help="also delete the state directory")
    down.set_defaults(func=_cmd_down)
    status = actions.add_parser("status", help="each part's PID, port and health")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=_cmd_status)
    env = actions.add_parser("env", help='print `export` lines: eval "$(sparkify stack env)"')
    env.set_defaults(func=_cmd_env)


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--executor`` and ``--workers``, shared with ``sparkify demo``."""
    parser.add_argument(
        "--executor",
        choices=sorted(EXECUTORS),
        help="Airflow's executor: local (LocalExecutor, the default) or celery "
        "(CeleryExecutor with a Redis broker); default: the running stack's, else local",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"Celery workers, each with its own hostname (default {DEFAULT_WORKERS}); "
        "needs --executor celery",
    )


def _echo(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_up(args: argparse.Namespace) -> int:
    from sparkify.local.stack.stack import Stack

    stack = Stack()
    started = time.monotonic()
    components = [c.strip() for c in args.only.split(",") if c.strip()]
    stack.up(
        components,
        executor=args.executor,
        workers=args.workers,
        timeout=args.timeout,
        echo=_echo,
        warehouse=args.warehouse,
    )
    print(f"Stack is up in {time.monotonic() - started:.1f}s (state: {stack.state_dir})")
    if workers := stack.worker_parts():
        print(f"Executor: CeleryExecutor, {len(workers)} worker(s): {', '.join(workers)}")
    wanted = expand_components(components)
    if "airflow" in wanted:
        print(f"Airflow UI: {stack.api_url}  login: {ADMIN_USER} / {stack.admin_password}")
    if "s3" in wanted:
        print(f"S3 endpoint: {stack.s3_url}  bucket: {stack.bucket}")
    print('Use it from a shell: eval "$(sparkify stack env)"')
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from sparkify.local.stack.stack import Stack

    stack = Stack()
    stack.down(purge=args.purge, echo=_echo)
    print(f"Stack is down{' and purged' if args.purge else ''} ({stack.state_dir})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from sparkify.local.stack.stack import Stack

    stack = Stack()
    parts = stack.status()
    if args.json:
        print(json.dumps(parts, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"sparkify stack ({stack.state_dir})")
        for column in ("part", "pid", "port", "state", "detail"):
            table.add_column(column)
        colours = {"healthy": "green", "unhealthy": "red", "stopped": "yellow"}
        for name, part in parts.items():
            state = part["state"] if part["wanted"] or part["pid"] else "not started"
            colour = colours.get(state, "dim")
            table.add_row(
                name, str(part["pid"] or "-"), str(part["port"] or "-"),
                f"[{colour}]{state}[/{colour}]", part["detail"],
            )  # fmt: skip
        Console().print(table)
    down = [n for n, p in parts.items() if (p["wanted"] or p["pid"]) and not p["healthy"]]
    nothing = not any(p["wanted"] or p["pid"] for p in parts.values())
    return 1 if down or nothing else 0


def _cmd_env(args: argparse.Namespace) -> int:
    from sparkify.local.stack.config import export_lines
    from sparkify.local.stack.stack import Stack

    sys.stdout.write(export_lines(Stack().env()))
    return 0
