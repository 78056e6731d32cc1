"""Driving a running Airflow through its REST API (``/api/v2``): backfills and waiting.

Works against any deployment, not only the local stack: ``sparkify.control.api`` says
where the API is and how to log in. Imports no Airflow and nothing of the local tooling.

- ``api``: the REST client and its connection settings;
- ``dags``: the pipeline's DAG ids, look-ups, pausing, single runs;
- ``ranges``: hour ranges as users write them;
- ``submit``: starting a backfill: one run per window (an hour, a day or the range);
- ``wait``: waiting until every partition of a range has finished;
- ``progress``: the live progress bars.
"""

from sparkify.control.dags import (
    ACTIVE,
    ASSET_DAGS,
    DAG_CHOICES,
    FINISHED,
    PAGE_LIMIT,
    PIPELINE_DAGS,
    STAGING_DAGS,
    WAIT_FOR,
    BackfillError,
    PartitionWaitError,
    dag_info,
    paused,
    trigger_and_wait,
    unpause,
    wait_for_dags,
)
from sparkify.control.ranges import expand_dags, hour_range, parse_when
from sparkify.control.submit import (
    ALLOW_LARGE_OPTION,
    DEFAULT_GRAIN,
    DEFAULT_MAX_DAYS,
    GRAINS,
    MAX_DAYS_ENV,
    Submission,
    backfill,
    max_days_from,
    plan,
    windows_of,
)
from sparkify.control.wait import count_states, fetch_runs, latest_by_key, wait_for_partitions

__all__ = [
    "ACTIVE",
    "ALLOW_LARGE_OPTION",
    "ASSET_DAGS",
    "DAG_CHOICES",
    "DEFAULT_GRAIN",
    "DEFAULT_MAX_DAYS",
    "FINISHED",
    "GRAINS",
    "MAX_DAYS_ENV",
    "PAGE_LIMIT",
    "PIPELINE_DAGS",
    "STAGING_DAGS",
    "WAIT_FOR",
    "BackfillError",
    "PartitionWaitError",
    "Submission",
    "backfill",
    "count_states",
    "dag_info",
    "expand_dags",
    "fetch_runs",
    "hour_range",
    "latest_by_key",
    "max_days_from",
    "parse_when",
    "paused",
    "plan",
    "trigger_and_wait",
    "unpause",
    "wait_for_dags",
    "wait_for_partitions",
    "windows_of",
]
