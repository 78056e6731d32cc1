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
from sparkify.control.submit import DEFAULT_GRAIN, GRAINS, Submission, backfill, windows_of
from sparkify.control.wait import count_states, fetch_runs, latest_by_key, wait_for_partitions

__all__ = [
    "ACTIVE",
    "ASSET_DAGS",
    "DAG_CHOICES",
    "DEFAULT_GRAIN",
    "FINISHED",
    "GRAINS",
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
    "parse_when",
    "paused",
    "trigger_and_wait",
    "unpause",
    "wait_for_dags",
    "wait_for_partitions",
    "windows_of",
]
