"""The ``sparkify`` command line: one subcommand per module, registered lazily.

Each module named in ``COMMANDS`` exposes ``register(subparsers)``, which adds its
subcommand and sets ``func`` on the parser. Modules keep heavy imports (Airflow,
boto3) inside their functions so that ``sparkify --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from sparkify.errors import CliError

COMMANDS = (
    "sparkify.cli.stack",
    "sparkify.cli.generate",
    "sparkify.cli.land",
    "sparkify.cli.backfill",
    "sparkify.cli.report",
    "sparkify.cli.demo",
)
# The local tooling's commands, offered only where the `local` extra is installed: a
# deployment's environment has `sparkify backfill` and nothing that needs moto.
LOCAL_COMMANDS = (
    "sparkify.cli.stack",
    "sparkify.cli.generate",
    "sparkify.cli.land",
    "sparkify.cli.demo",
)
LOCAL_EXTRA_PROBE = "moto"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparkify", description="Sparkify pipelines: local stack, data, backfill, demo."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local = importlib.util.find_spec(LOCAL_EXTRA_PROBE) is not None
    if not local:
        parser.epilog = (
            "stack, generate, land and demo need the local tooling: pip install 'sparkify[local]'"
        )
    for name in COMMANDS:
        if name in LOCAL_COMMANDS and not local:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command still being built is simply not offered
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(f"sparkify {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run as a script, this module is __main__: call the installed module's main so that
    # its CliError is the one commands raise.
    from sparkify.cli.main import main as installed_main

    sys.exit(installed_main())
