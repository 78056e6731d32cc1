"""Settings per environment: `config/<env>.toml` chosen by `SPARKIFY_ENV`, then env vars.

Loaded at task run time, never at DAG parse time. Connections and secrets are not settings:
they come from Airflow connections (``AIRFLOW_CONN_*`` or a secrets backend). The warehouse
connection's type (``postgres`` or ``redshift``) decides the SQL dialect.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sparkify.errors import CliError
from sparkify.pipeline import partitions
from sparkify.pipeline.resources import resource_dir
from sparkify.pipeline.staging.lines import MAX_LINE_BYTES

ENVIRONMENTS = ("local", "aws")
# Connection ids are fixed; what they point at (PostgreSQL or Redshift, S3 or a local
# endpoint) comes from the connections themselves.
WAREHOUSE_CONN_ID = "warehouse"
WAREHOUSE_READ_CONN_ID = "warehouse_read"  # SELECT only: the health page and reports
AWS_CONN_ID = "aws_default"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9_\-./]+$")
_IAM_ROLE = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_\-/]{1,512}$")
_S3_PREFIX = re.compile(r"s3://(?P<bucket>[^/]*)/(?P<prefix>.*)")
# fullmatch, not match: "$" also matches before a trailing newline, which a value read from
# a secret file often has. Bucket, keys, role, region and the manifests' place are written
# into COPY's SQL text.
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_CRON = re.compile(r"[0-9*/,\-]+( [0-9*/,\-]+){4}")


class SettingsError(ValueError, CliError):
    """A setting is missing or malformed (the command line prints it without a traceback)."""


# Where the COPY manifests go when manifest_prefix is empty: in the source bucket, outside
# its data prefixes (Settings).
DEFAULT_MANIFEST_PREFIX = "_manifests/"


def _doc(text: str) -> Any:
    """A field's documentation: the settings reference of the manual is built from it."""
    return dataclasses.field(metadata={"doc": " ".join(text.split())})


@dataclass(frozen=True)
class Settings:
    """The pipeline's settings for one environment: ``config/<env>.toml``, each field
    overridable by ``SPARKIFY_<FIELD>``. Each field's ``doc`` is its entry in the manual's
    settings reference (``sparkify.reference``)."""

    env: str
    bucket: str = _doc(
        "The S3 bucket holding the events and the song catalogue. The local stack and "
        "`sparkify land` read `SPARKIFY_BUCKET` too, as their bucket."
    )
    events_prefix: str = _doc(
        "Where the event logs are in the bucket; each hour is under "
        "`<events_prefix>/YYYY/MM/DD/HH/`. The one source of that prefix: staging, its "
        "sensor, late detection, the routing of bucket notifications and the local tooling "
        "all read it here when they run."
    )
    songs_prefix: str = _doc(
        "Where the song catalogue's JSON files are in the bucket (in any folders below it); "
        "read by the same as `events_prefix`."
    )
    grace_minutes: int = _doc(
        "How long after an hour ends its prefix may still receive objects; past it, an "
        "empty hour completes with zero rows instead of waiting on the sensor."
    )
    late_lookback_hours: int = _doc(
        "How many hours back `restage_late` looks for objects that landed in hours already "
        "staged; such an hour is staged again and its chain re-runs."
    )
    reject_text_limit: int = _doc(
        "Characters of raw text kept per rejected line (1 to 4096, the width of "
        "`staging_rejects.raw_text` on Redshift)."
    )
    max_line_bytes: int = _doc(
        "The longest line staged, in bytes (line ending excluded); a longer one is rejected "
        "as `line_too_long` with its first bytes kept. At most 65535: Redshift's COPY reads "
        "each line into a VARCHAR(65535)."
    )
    max_song_file_bytes: int = _doc(
        "The largest song file read, in bytes; a larger one is rejected as `file_too_large` "
        "without being read. At most 65535, for the same reason."
    )
    max_reject_rate: float = _doc(
        "Quality: the largest share (0 to 1) of a partition's lines that may be rejected."
    )
    freshness_max_age_hours: int = _doc(
        "Quality: a partition fails when the newest hour holding staged events, at or before "
        "it, is more than this many hours older (the source has gone quiet)."
    )
    iam_role: str = _doc(
        "The IAM role ARN Redshift's COPY assumes to read S3 (`[redshift]` table). Needed on "
        "AWS and by any COPY; may be empty where PostgreSQL stages without COPY. Whenever "
        "set it must be an ARN: it is written into COPY's SQL text."
    )
    region: str = _doc("The bucket's AWS region, for COPY (`[redshift]` table).")
    max_errors: int = _doc(
        "COPY's MAXERROR on Redshift (`[redshift]` table): how many lines one COPY may "
        "refuse (each kept as a reject) before the COPY itself fails."
    )
    manifest_prefix: str = _doc(
        "Where Redshift staging writes the manifest naming the objects each COPY reads, "
        "`s3://<bucket>/<prefix>/` (`[redshift]` table); empty means `_manifests/` in the "
        "source bucket. Whoever can write there decides what Redshift loads: see "
        "[Security](../security.md#copy-manifests) for the bucket policy."
    )

    @property
    def events_hour_pattern(self) -> str:
        """Where an hour's events land, as a strftime pattern of the hour:
        ``<events_prefix>/%Y/%m/%d/%H/`` (``partitions.events_hour_pattern``)."""
        return partitions.events_hour_pattern(self.events_prefix)

    @property
    def songs_root(self) -> str:
        """Where song files land: ``<songs_prefix>/``, any folders below it."""
        return partitions.data_root(self.songs_prefix)

    @property
    def manifests(self) -> tuple[str, str]:
        """The bucket and the key prefix (ending in ``/``) of the COPY manifests."""
        if not self.manifest_prefix:
            return self.bucket, DEFAULT_MANIFEST_PREFIX
        match = _S3_PREFIX.fullmatch(self.manifest_prefix)
        if match is None:
            raise SettingsError(
                f"manifest_prefix {self.manifest_prefix!r} is not s3://<bucket>/<prefix>/"
            )
        return match["bucket"], match["prefix"]

    def validate(self) -> Settings:
        if self.env not in ENVIRONMENTS:
            raise SettingsError(f"SPARKIFY_ENV must be one of {ENVIRONMENTS}, not {self.env!r}")
        if not _BUCKET.fullmatch(self.bucket):
            raise SettingsError(
                f"bucket {self.bucket!r} is not a valid S3 bucket name; set SPARKIFY_BUCKET"
            )
        for name in ("events_prefix", "songs_prefix"):
            value = getattr(self, name)
            if not _PREFIX.fullmatch(value) or ".." in value:
                raise SettingsError(f"{name} {value!r} may hold only letters, digits, _-./")
            if partitions.data_root(value).strip("/.") == "":
                raise SettingsError(f"{name} {value!r} names no folder: the whole bucket")
        events, songs = (partitions.data_root(self.events_prefix), self.songs_root)
        if events.startswith(songs) or songs.startswith(events):
            raise SettingsError(
                f"events_prefix {events!r} and songs_prefix {songs!r} overlap: staging would "
                "read one data set's objects as the other's"
            )
        if (self.iam_role or self.env == "aws") and not _IAM_ROLE.fullmatch(self.iam_role):
            raise SettingsError(
                f"redshift.iam_role {self.iam_role!r} is not an IAM role ARN "
                "(arn:aws:iam::<account>:role/<name>); set SPARKIFY_IAM_ROLE"
            )
        self._validate_manifests()
        if not _REGION.fullmatch(self.region):
            raise SettingsError(
                f"region {self.region!r} is not an AWS region name (us-west-2); set SPARKIFY_REGION"
            )
        if not 1 <= self.max_line_bytes <= MAX_LINE_BYTES:
            raise SettingsError(
                f"max_line_bytes {self.max_line_bytes} must lie between 1 and {MAX_LINE_BYTES} "
                "(Redshift's widest VARCHAR, into which its COPY reads each line)"
            )
        if not 1 <= self.max_song_file_bytes <= MAX_LINE_BYTES:
            raise SettingsError(
                f"max_song_file_bytes {self.max_song_file_bytes} must lie between 1 and "
                f"{MAX_LINE_BYTES}"
            )
        if not 1 <= self.reject_text_limit <= 4096:
            raise SettingsError(
                f"reject_text_limit {self.reject_text_limit} must lie between 1 and 4096 "
                "(the width of staging_rejects.raw_text on Redshift)"
            )
        if not 0 <= self.max_reject_rate <= 1:
            raise SettingsError("max_reject_rate must lie between 0 and 1")
        for name in ("late_lookback_hours", "freshness_max_age_hours"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1")
        return self

    def _validate_manifests(self) -> None:
        bucket, prefix = self.manifests
        where = f"manifest_prefix {self.manifest_prefix!r}"
        if not _BUCKET.fullmatch(bucket):
            raise SettingsError(f"{where}: {bucket!r} is not a valid S3 bucket name")
        if prefix and not (
            _PREFIX.fullmatch(prefix)
            and prefix.endswith("/")
            and not prefix.startswith("/")
            and "//" not in prefix
            and ".." not in prefix
        ):
            raise SettingsError(
                f"{where}: the prefix {prefix!r} may hold only letters, digits, _-./ and must "
                "end in /"
            )
        if bucket != self.bucket:
            return
        for name in ("events_prefix", "songs_prefix"):  # manifests are no data
            data = partitions.data_root(getattr(self, name))
            for written in (f"{prefix}events/", f"{prefix}songs/"):
                if written.startswith(data) or data.startswith(written):
                    raise SettingsError(f"{where} overlaps the data prefix {name} {data!r}")


def config_dir() -> Path:
    """The folder holding ``<env>.toml`` (``sparkify.pipeline.resources``)."""
    return resource_dir("config")


def load(env: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the settings of ``env`` (default ``SPARKIFY_ENV`` or ``local``).

    Any field can be overridden by ``SPARKIFY_<FIELD>`` in the environment.
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get("SPARKIFY_ENV", "local")
    if env not in ENVIRONMENTS:
        raise SettingsError(f"SPARKIFY_ENV must be one of {ENVIRONMENTS}, not {env!r}")
    path = config_dir() / f"{env}.toml"
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise SettingsError(f"no settings file for environment {env!r}: {path}") from exc
    values: dict[str, object] = {"env": env, **raw.pop("redshift", {}), **raw}
    for field in fields(Settings):
        override = environ.get(f"SPARKIFY_{field.name.upper()}")
        if override is not None and field.name != "env":
            values[field.name] = override
    try:
        typed = {f.name: _coerce(f.type, values[f.name]) for f in fields(Settings)}
    except KeyError as exc:
        raise SettingsError(f"{path}: setting {exc.args[0]!r} is missing") from exc
    except ValueError as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    return Settings(**typed).validate()


def _coerce(type_name: object, value: object) -> object:
    if type_name in ("int", int):
        return int(value)  # type: ignore[arg-type]
    if type_name in ("float", float):
        return float(value)  # type: ignore[arg-type]
    return str(value)


DEFAULT_LATE_CHECK_CRON = "*/5 * * * *"


def late_check_cron(environ: Mapping[str, str] | None = None) -> str:
    """How often ``restage_late`` runs: ``SPARKIFY_LATE_CHECK_CRON`` or every five minutes.

    Read from the environment, not from the settings file: a schedule is read whenever the
    DAG file is parsed, and parsing does no file I/O.
    """
    environ = os.environ if environ is None else environ
    cron = environ.get("SPARKIFY_LATE_CHECK_CRON", DEFAULT_LATE_CHECK_CRON).strip()
    if not _CRON.fullmatch(cron):
        raise SettingsError(
            f"SPARKIFY_LATE_CHECK_CRON {cron!r} is not a five-field cron expression"
        )
    return cron


DEFAULT_RETRY_DELAY = timedelta(minutes=5)


def retry_delay(environ: Mapping[str, str] | None = None) -> timedelta:
    """How long a failed task waits before its retry: ``SPARKIFY_RETRY_DELAY_SECONDS`` or
    five minutes. Read when the DAG files are parsed, like ``late_check_cron``; the fault
    tests shorten it so that a task killed with its worker is retried within the test."""
    environ = os.environ if environ is None else environ
    value = environ.get("SPARKIFY_RETRY_DELAY_SECONDS", "").strip()
    if not value:
        return DEFAULT_RETRY_DELAY
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise SettingsError(
            f"SPARKIFY_RETRY_DELAY_SECONDS {value!r} is not a number of seconds (0 or more)"
        )
    return timedelta(seconds=seconds)


@cache
def current() -> Settings:
    """The settings of this process's environment, read once."""
    return load()


# What starts staging: bucket notifications through SQS (`route_notifications`), the hourly
# schedule and its sensor (`detect_landing`), or both (the default: the schedule is the
# safety net for notifications that were lost, and the ledger loads an object seen by both
# once). Read when the DAG files are parsed, like the two settings above.
INGEST_MODES = ("events", "schedule", "both")
DEFAULT_INGEST = "both"
# An SQS queue URL: AWS's (https://sqs.<region>.amazonaws.com/<account>/<name>) or a local
# endpoint's (http://127.0.0.1:<port>/<account>/<name>).
_QUEUE_URL = re.compile(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?/\d{12}/[A-Za-z0-9_\-]{1,80}(\.fifo)?")


def ingest_mode(environ: Mapping[str, str] | None = None) -> str:
    """``SPARKIFY_INGEST``: ``events``, ``schedule`` or ``both`` (default)."""
    environ = os.environ if environ is None else environ
    mode = environ.get("SPARKIFY_INGEST", "").strip().lower() or DEFAULT_INGEST
    if mode not in INGEST_MODES:
        raise SettingsError(f"SPARKIFY_INGEST must be one of {INGEST_MODES}, not {mode!r}")
    return mode


def notifications_queue_url(environ: Mapping[str, str] | None = None) -> str:
    """``SPARKIFY_NOTIFICATIONS_QUEUE``: the URL of the SQS queue the bucket notifies.

    Needed whenever notifications start staging (``SPARKIFY_INGEST`` ``events`` or
    ``both``); missing, ``route_notifications`` fails to parse and says so, rather than
    leaving a deployment that believes it is event-driven on the hourly schedule alone.
    """
    environ = os.environ if environ is None else environ
    url = environ.get("SPARKIFY_NOTIFICATIONS_QUEUE", "").strip()
    if not url:
        raise SettingsError(
            "SPARKIFY_NOTIFICATIONS_QUEUE is not set: the URL of the SQS queue that receives "
            "the bucket's notifications (or set SPARKIFY_INGEST=schedule)"
        )
    if not _QUEUE_URL.fullmatch(url):
        raise SettingsError(
            f"SPARKIFY_NOTIFICATIONS_QUEUE {url!r} is not an SQS queue URL "
            "(https://sqs.<region>.amazonaws.com/<account>/<queue>)"
        )
    return url
