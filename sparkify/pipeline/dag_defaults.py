"""What every Sparkify DAG shares: default_args, start date, tags, Jinja filters."""

from __future__ import annotations

from sparkify.pipeline import pools, settings
from sparkify.pipeline.alerts import PartitionFailureNotifier, run_deadline
from sparkify.pipeline.operators.checks import JINJA_FILTERS
from sparkify.pipeline.partitions import START_DATE as START_DATE

DEFAULT_ARGS = {
    "owner": "sparkify-data",
    "depends_on_past": False,
    "retries": 3,
    "retry_delay": settings.retry_delay(),  # five minutes; SPARKIFY_RETRY_DELAY_SECONDS
    "email_on_retry": False,
    "email_on_failure": False,
}
HOURLY = "0 * * * *"
# No prefixes here: where the events and song files land is the settings' events_prefix and
# songs_prefix, read by the tasks at run time (Settings.events_hour_pattern, songs_root).
USER_DEFINED_FILTERS = JINJA_FILTERS
# Every DAG's on_failure_callback: one alert per failed run (a partition and DAG), after
# the retries; where it goes is configuration read when it is sent (sparkify.pipeline.alerts).
ON_FAILURE = PartitionFailureNotifier()
# The pipeline DAGs' DeadlineAlert: a partition's run not done in time is an alert too.
RUN_DEADLINE = run_deadline()
# The staging DAGs' `announce` tasks run in a one-slot pool (sparkify.pipeline.pools).
ANNOUNCE_POOL = pools.ANNOUNCE_POOL.name
