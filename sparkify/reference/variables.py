"""Every environment variable the project reads, with its type, default and meaning.

The settings reference of the manual (``docs/reference/settings.md``) is generated from
this catalogue and from ``sparkify.pipeline.settings.Settings``; ``tests/unit/
test_reference.py`` fails when code under ``sparkify/``, ``dags/``, ``benchmarks/`` or
``tests/`` names a ``SPARKIFY_*`` variable that is described neither here nor as a
``Settings`` field, and when an entry here is read nowhere.

The fields of ``Settings`` (``config/<env>.toml``, each overridable as
``SPARKIFY_<FIELD>``) are not repeated here: their meaning is the field's own
documentation in ``sparkify.pipeline.settings``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Who reads a variable, in the order the reference lists them.
PIPELINE = "Airflow (DAG parsing and tasks)"
CLI = "The sparkify command"
LOCAL = "The local stack and its tools"
TESTS = "The test suite"
READERS = (PIPELINE, CLI, LOCAL, TESTS)


@dataclass(frozen=True)
class Variable:
    """One environment variable: ``meaning`` is Markdown, one or two sentences."""

    name: str
    read_by: str
    type: str
    default: str
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    # --- read where Airflow runs: DAG parsing, tasks, callbacks -----------------------------
    Variable(
        "SPARKIFY_ENV",
        PIPELINE,
        "`local` or `aws`",
        "`local`",
        "Which settings file the tasks read: `config/<env>.toml`.",
    ),
    Variable(
        "SPARKIFY_INGEST",
        PIPELINE,
        "`events`, `schedule` or `both`",
        "`both`",
        "What starts staging: bucket notifications (`route_notifications`), the hourly "
        "schedule with its sensor (`detect_landing`), or both. Read when the DAG files are "
        "parsed. See [event-driven ingestion](../ingestion.md).",
    ),
    Variable(
        "SPARKIFY_NOTIFICATIONS_QUEUE",
        PIPELINE,
        "SQS queue URL",
        "none",
        "The SQS queue the bucket notifies. Required with `SPARKIFY_INGEST` `events` or "
        "`both`: without it `route_notifications` fails to parse and says so.",
    ),
    Variable(
        "SPARKIFY_LATE_CHECK_CRON",
        PIPELINE,
        "five-field cron",
        "`*/5 * * * *`",
        "How often `restage_late` looks for objects that landed in hours already staged "
        "(UTC). Read when the DAG files are parsed.",
    ),
    Variable(
        "SPARKIFY_RETRY_DELAY_SECONDS",
        PIPELINE,
        "seconds (0 or more)",
        "`300`",
        "How long a failed task waits before its retry. Read when the DAG files are parsed.",
    ),
    Variable(
        "SPARKIFY_RUN_DEADLINE_MINUTES",
        PIPELINE,
        "minutes (positive number)",
        "`120`",
        "A pipeline DAG's run not finished this long after it was queued raises a deadline "
        "alert. Read when the DAG files are parsed.",
    ),
    Variable(
        "SPARKIFY_ALERT_CHANNELS",
        PIPELINE,
        "comma-separated: `webhook`, `smtp`; or `none`",
        "`none`",
        "Where alerts go (a failed partition after its retries, a missed deadline); with "
        "`none` they are only logged. See [alerts](../operations/alerts.md).",
    ),
    Variable(
        "SPARKIFY_ALERT_WEBHOOK_CONN_ID",
        PIPELINE,
        "Airflow connection id",
        "`sparkify_alert_webhook`",
        "The `http` connection the `webhook` channel posts to.",
    ),
    Variable(
        "SPARKIFY_ALERT_SMTP_CONN_ID",
        PIPELINE,
        "Airflow connection id",
        "`smtp_default`",
        "The SMTP connection the `smtp` channel sends through.",
    ),
    Variable(
        "SPARKIFY_ALERT_EMAIL_TO",
        PIPELINE,
        "e-mail address(es)",
        "none",
        "Who the `smtp` channel writes to; required when that channel is chosen.",
    ),
    Variable(
        "SPARKIFY_UI_URL",
        PIPELINE,
        "URL",
        "Airflow's `[api] base_url`",
        "The base of the links to Airflow's UI in alerts.",
    ),
    Variable(
        "SPARKIFY_SQL_DIR",
        PIPELINE,
        "folder",
        "the package's own",
        "Where the SQL files are read from, instead of those shipped in the package.",
    ),
    Variable(
        "SPARKIFY_CONFIG_DIR",
        PIPELINE,
        "folder",
        "the package's own",
        "Where `<env>.toml` is read from, instead of the files shipped in the package.",
    ),
    # --- read by the sparkify command (backfill, report) ------------------------------------
    Variable(
        "SPARKIFY_API_URL",
        CLI,
        "URL",
        "the local stack's, if one is up",
        "The Airflow REST API that `sparkify backfill` and `sparkify report` drive. HTTPS, "
        "or plain HTTP on a loopback address.",
    ),
    Variable(
        "SPARKIFY_API_TOKEN",
        CLI,
        "bearer token",
        "none",
        "A token for that API, used as is.",
    ),
    Variable(
        "SPARKIFY_API_USERNAME",
        CLI,
        "user name",
        "none",
        "A user for the auth manager's token endpoint (with `SPARKIFY_API_PASSWORD`), when no "
        "token is given.",
    ),
    Variable(
        "SPARKIFY_API_PASSWORD",
        CLI,
        "password",
        "none",
        "That user's password; never taken from the command line.",
    ),
    Variable(
        "SPARKIFY_API_ALLOW_HTTP",
        CLI,
        "`1`/`true`/`yes` or `0`/`false`/`no`",
        "off",
        "Allow plain HTTP to a non-loopback API address, for a network one trusts "
        "(`--allow-insecure-http`).",
    ),
    Variable(
        "SPARKIFY_BACKFILL_MAX_DAYS",
        CLI,
        "days (positive integer)",
        "`366`",
        "The longest range `sparkify backfill` takes without `--allow-large-range`.",
    ),
    Variable(
        "SPARKIFY_HOME",
        CLI,
        "folder",
        "`./.sparkify`",
        "The local stack's state folder (ports, secrets, logs, data), which `backfill`, "
        "`report`, `stack` and `demo` use.",
    ),
    # --- read by the local stack and its tools -------------------------------------------------
    Variable(
        "SPARKIFY_DAGS_FOLDER",
        LOCAL,
        "folder",
        "the checkout's `dags/`",
        "The DAG files the local stack's Airflow parses.",
    ),
    Variable(
        "SPARKIFY_CACHE_DIR",
        LOCAL,
        "folder",
        "`$XDG_CACHE_HOME/sparkify`, else `~/.cache/sparkify`",
        "Where the migrated metadata-database template is kept (one per Airflow and "
        "PostgreSQL version).",
    ),
    Variable(
        "SPARKIFY_PG_BINDIR",
        LOCAL,
        "folder",
        "`/usr/lib/postgresql/15/bin`, else the newest installed, else `initdb` on the PATH",
        "Where `initdb`, `pg_ctl` and `postgres` are.",
    ),
    Variable(
        "SPARKIFY_PG_PORT",
        LOCAL,
        "TCP port",
        "a free port, chosen at the first `up`",
        "The local PostgreSQL server's port.",
    ),
    Variable(
        "SPARKIFY_S3_PORT",
        LOCAL,
        "TCP port",
        "a free port, chosen at the first `up`",
        "The local S3 (and SQS) endpoint's port.",
    ),
    Variable(
        "SPARKIFY_API_PORT",
        LOCAL,
        "TCP port",
        "a free port, chosen at the first `up`",
        "The local Airflow api-server's port.",
    ),
    Variable(
        "SPARKIFY_REDSHIFT_PORT",
        LOCAL,
        "TCP port",
        "a free port, chosen at the first `up`",
        "The Redshift rehearsal's port (`--warehouse redshift`).",
    ),
    Variable(
        "SPARKIFY_REDIS_PORT",
        LOCAL,
        "TCP port",
        "a free port, chosen at the first `up`",
        "The CeleryExecutor's Redis broker's port (`--executor celery`).",
    ),
    Variable(
        "SPARKIFY_WORKER_HOSTNAME",
        LOCAL,
        "host name",
        "set per worker by the stack",
        "The host name a local Celery worker's tasks report, so that two workers on one "
        "machine are told apart.",
    ),
    Variable(
        "SPARKIFY_REDSHIFT_PASSWORD",
        LOCAL,
        "password",
        "set by the stack",
        "The rehearsal's password for the warehouse user; read from the environment, never "
        "from its command line.",
    ),
    Variable(
        "SPARKIFY_REDSHIFT_USERS",
        LOCAL,
        "JSON object: user to password",
        "set by the stack",
        "Further users the rehearsal lets in (the health page's reader), each logged in to "
        "PostgreSQL as itself so that its grants decide.",
    ),
    Variable(
        "SPARKIFY_REDSHIFT_ISOLATION",
        LOCAL,
        "`read committed` or `serializable`",
        "`read committed`",
        "The rehearsal's isolation level. See [the rehearsal](../rehearsal.md).",
    ),
    # --- read by the test suite ----------------------------------------------------------------
    Variable(
        "SPARKIFY_TEST_DAG_GRANTS",
        TESTS,
        "JSON object: user to DAG ids",
        "none",
        "The test auth manager's grants: which DAGs each test user may read.",
    ),
    Variable(
        "SPARKIFY_SCREENSHOTS",
        TESTS,
        "folder",
        "none",
        "Where the browser test copies its screenshot of the health page (`make screenshots`: "
        "`docs/images`, which the README shows).",
    ),
    Variable(
        "SPARKIFY_CHROMIUM",
        TESTS,
        "file",
        "`/usr/bin/chromium`",
        "The browser the health page's tests drive.",
    ),
    Variable(
        "SPARKIFY_CHROMEDRIVER",
        TESTS,
        "file",
        "`/usr/bin/chromedriver`",
        "The driver for that browser.",
    ),
)
