"""``sparkify land``: the command line over ``sparkify.local.land``."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from sparkify.errors import CliError
from sparkify.local.land import land


def register(subparsers) -> None:
    """Add the ``land`` subcommand."""
    p = subparsers.add_parser("land", help="upload a data set to S3 in hourly partitions")
    p.add_argument("--source", type=Path, required=True, help="data set in the export layout")
    p.add_argument("--from", dest="date_from", type=date.fromisoformat, help="first day (incl.)")
    p.add_argument("--to", dest="date_to", type=date.fromisoformat, help="last day (inclusive)")
    p.add_argument("--bucket", help="target bucket (default: $SPARKIFY_BUCKET)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:

    bucket = args.bucket or os.environ.get("SPARKIFY_BUCKET")
    if not bucket:
        raise CliError("no bucket: pass --bucket or set SPARKIFY_BUCKET")
    if not args.source.is_dir():
        raise CliError(f"{args.source} is not a directory")
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise CliError("--from is after --to")
    import boto3
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    # boto3 reads AWS_ENDPOINT_URL, credentials and region from the environment.
    s3 = boto3.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        where = s3.meta.endpoint_url
        raise CliError(f"bucket {bucket!r} is not reachable at {where}: {exc}") from exc
    try:
        report = land(
            args.source,
            bucket=bucket,
            s3_client=s3,
            date_from=args.date_from,
            date_to=args.date_to,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        raise CliError(f"S3 bucket {bucket!r}: {exc}") from exc
    print(
        f"landed {report['files']} log files ({report['lines']} lines, "
        f"{report['lines_unreadable_time']} without a readable time, "
        f"{report['blank_lines']} blank lines left out) and {report['song_files']} song files "
        f"in s3://{bucket}: {report['uploaded']} objects uploaded, "
        f"{report['unchanged']} unchanged"
    )
    for name in report["empty_files"]:
        print(f"empty, nothing landed: {name}")
    for name in report["skipped_files"]:
        print(f"skipped, no YYYY-MM-DD in its name: {name}", file=sys.stderr)
    return 0
