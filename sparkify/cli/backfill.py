"""``sparkify backfill``: the command line over ``sparkify.control``.

Which Airflow: ``--api-url`` or ``SPARKIFY_API_URL`` (with ``SPARKIFY_API_TOKEN``, or
``--api-user``/``SPARKIFY_API_USERNAME`` and ``SPARKIFY_API_PASSWORD``); without either,
the local stack of ``$SPARKIFY_HOME`` (else ``./.sparkify``), if one is up. Plain HTTP
only to this machine unless ``--allow-insecure-http`` (``sparkify.control.api``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from datetime import date, datetime

from sparkify.control import (
    ALLOW_LARGE_OPTION,
    DAG_CHOICES,
    DEFAULT_GRAIN,
    DEFAULT_MAX_DAYS,
    GRAINS,
    MAX_DAYS_ENV,
    WAIT_FOR,
    BackfillError,
    backfill,
    count_states,
    max_days_from,
    parse_when,
    paused,
    plan,
    unpause,
    wait_for_partitions,
)
from sparkify.control.api import (
    ALLOW_HTTP_ENV,
    ALLOW_HTTP_OPTION,
    URL_ENV,
    ApiClient,
    ApiConfigError,
    ApiSettings,
)


def register(subparsers) -> None:
    """Add the ``backfill`` subcommand."""
    p = subparsers.add_parser(
        "backfill",
        help="run every hour of a range of days again (REST API), in windows, and wait",
        description=(
            "Run every hour of a range again through Airflow's REST API, one run per window "
            "of --grain hours; model and quality follow the staging DAGs with the same keys. "
            "Every hour is still staged and recorded on its own inside a window."
        ),
    )
    p.add_argument(
        "--from", dest="first", type=when_arg, required=True,
        help="first day YYYY-MM-DD (or hour YYYY-MM-DDTHH), UTC",
    )  # fmt: skip
    p.add_argument(
        "--to", dest="last", type=when_arg, required=True,
        help="last day (or hour), inclusive",
    )  # fmt: skip
    p.add_argument(
        "--dag", choices=DAG_CHOICES, default="all",
        help="all (default) = both staging DAGs; model and quality follow by their assets",
    )  # fmt: skip
    p.add_argument(
        "--wait", action=argparse.BooleanOptionalAction, default=True,
        help="wait for every partition of the DAG and what follows it (default: --wait)",
    )  # fmt: skip
    p.add_argument(
        "--grain", choices=GRAINS, default=DEFAULT_GRAIN,
        help="one run per hour, per UTC day, or (default) one for the whole range "
        "(windows of at most 92 days)",
    )  # fmt: skip
    p.add_argument(
        ALLOW_LARGE_OPTION, action="store_true",
        help=f"take a range longer than ${MAX_DAYS_ENV} days (default {DEFAULT_MAX_DAYS})",
    )  # fmt: skip
    p.add_argument("--unpause", action="store_true", help="unpause the DAGs involved if paused")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (default 3600)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_api_options(p)
    p.set_defaults(func=_run)


def when_arg(text: str) -> date | datetime:
    """argparse type for ``--from``/``--to``: a day or an hour (``parse_when``)."""
    try:
        return parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _run(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    started = time.monotonic()
    environ = os.environ if environ is None else environ
    # A bad range or grain, or one too long, is reported before the API is asked.
    plan(
        args.first,
        args.last,
        args.grain,
        max_days=None if args.allow_large_range else max_days_from(environ),
    )
    client = connect(args, environ)
    with client:
        involved = WAIT_FOR[args.dag]
        if args.unpause:
            for dag_id in unpause(client, involved):
                print(f"unpaused {dag_id}", file=sys.stderr)
        elif stopped := paused(client, involved):
            raise BackfillError(
                f"paused: {', '.join(stopped)}; their runs would not start "
                "(pass --unpause, or unpause them in the UI)"
            )
        submissions = backfill(client, args.dag, args.first, args.last, grain=args.grain)
        keys = submissions[0].keys
        for sub in submissions:
            print(f"{sub.dag_id}: {len(sub.keys)} run(s) by {args.grain}, {keys[0]} .. {keys[-1]}")
        if not args.wait:
            return 0
        latest = wait_for_partitions(
            client,
            involved,
            keys,
            timeout=args.timeout,
            progress=not args.quiet and sys.stderr.isatty(),
            since=min(sub.since for sub in submissions),
        )
    failed = 0
    for dag_id, runs in latest.items():
        counts = count_states(runs)
        failed += counts["failed"]
        print(f"{dag_id}: {counts['success']} succeeded, {counts['failed']} failed")
    print(f"done in {time.monotonic() - started:.0f}s")
    return 1 if failed else 0


# -- which Airflow --------------------------------------------------------------------------
def add_api_options(p: argparse.ArgumentParser) -> None:
    """``--api-url``, ``--api-user`` and ``--allow-insecure-http``; secrets (token, password)
    come from the environment."""
    p.add_argument(
        "--api-url", default=None,
        help=f"Airflow's API server, e.g. https://airflow.example.com (default: ${URL_ENV}, "
        "else the local stack)",
    )  # fmt: skip
    p.add_argument(
        "--api-user", default=None,
        help="user for the auth manager's token endpoint (default: $SPARKIFY_API_USERNAME); "
        "the password is read from $SPARKIFY_API_PASSWORD, a token from $SPARKIFY_API_TOKEN",
    )  # fmt: skip
    p.add_argument(
        ALLOW_HTTP_OPTION, dest="allow_insecure_http", action="store_true",
        help="allow an http:// address on another machine, whose password and token cross "
        f"the network in clear (also ${ALLOW_HTTP_ENV}=1); https:// is the safe way",
    )  # fmt: skip


def connect(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> ApiClient:
    """A REST client for the Airflow the options and environment name, else the local stack.

    :raises ApiConfigError: what is missing, by option and variable name
    """
    environ = os.environ if environ is None else environ
    url = getattr(args, "api_url", None)
    user = getattr(args, "api_user", None)
    if url or environ.get(URL_ENV) or user:
        allow_http = getattr(args, "allow_insecure_http", False)
        settings = ApiSettings.resolve(
            url=url, username=user, allow_http=allow_http, environ=environ
        )
        if settings.in_clear:
            print(
                f"warning: {settings.url} is plain HTTP: the password and the token cross "
                "the network in clear",
                file=sys.stderr,
            )
        return ApiClient.from_settings(settings)
    try:
        from sparkify.local.stack.stack import Stack
    except ImportError:  # a deployment's environment: no local tooling installed
        raise ApiConfigError(f"no Airflow API address: pass --api-url or set {URL_ENV}") from None
    stack = Stack()
    if not stack.config_path.exists():
        raise ApiConfigError(
            f"no Airflow API address: pass --api-url or set {URL_ENV} "
            f"(or start the local stack: `sparkify stack up`; none in {stack.state_dir})"
        )
    down = [part for part in ("api-server", "scheduler") if stack.pid(part) is None]
    if down:
        raise BackfillError(
            f"the stack in {stack.state_dir} is not up ({', '.join(down)} not running): "
            "run `sparkify stack up` first"
        )
    return stack.api_client()
