"""``sparkify generate``: the command line over ``sparkify.local.generate``."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from sparkify.errors import CliError
from sparkify.local.generate.dataset import generate


def register(subparsers) -> None:
    """Add the ``generate`` subcommand."""
    p = subparsers.add_parser("generate", help="write a synthetic data set in the export layout")
    p.add_argument("--out", type=Path, required=True, help="directory to write into")
    p.add_argument("--start", type=date.fromisoformat, default=date(2018, 11, 1), help="first day")
    p.add_argument("--days", type=int, default=3, help="number of daily log files (default 3)")
    p.add_argument("--events-per-hour", type=float, default=12.0, help="mean events an hour")
    p.add_argument("--songs", type=int, default=300, help="catalogue size (default 300)")
    p.add_argument("--match-rate", type=float, default=0.1, help="share of plays in the catalogue")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dirty", type=float, default=0.0, help="share of lines given a defect")
    p.add_argument(
        "--hostile",
        action="store_true",
        help="deal hostile lines among the defects (nesting, huge numbers, over-long lines, "
        "invalid UTF-8, wide text); needs --dirty",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a data set in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:

    try:
        manifest = generate(
            args.out,
            start=args.start,
            days=args.days,
            events_per_hour=args.events_per_hour,
            songs=args.songs,
            seed=args.seed,
            match_rate=args.match_rate,
            dirty=args.dirty,
            hostile=args.hostile,
            progress=not args.quiet and sys.stderr.isatty(),
            overwrite=args.overwrite,
        )
    except (ValueError, FileExistsError) as exc:
        raise CliError(str(exc)) from exc
    totals = manifest["totals"]
    print(
        f"wrote {totals['events']} events ({totals['plays']} song plays, "
        f"{totals['plays_matched']} in the catalogue) in {totals['log_files']} log files "
        f"and {totals['song_files']} song files to {args.out}; "
        f"{len(manifest['defects'])} defects"
    )
    return 0
