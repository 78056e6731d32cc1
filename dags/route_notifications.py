"""Route the bucket's object notifications to the hours they land in, and emit `landed`.

Owner: sparkify-data. Scheduled by an `AssetWatcher` on the SQS queue the bucket notifies
(`SPARKIFY_NOTIFICATIONS_QUEUE`): every batch of messages the triggerer receives (and
deletes from the queue) is an event of the `bucket_notifications` Asset, and each run reads
every message of the events it was triggered by, and of any later event no run consumed
(Airflow 3.3.2 can leave a batch that arrives while a run is busy to no run). Events objects
name their hour by their prefix `<events_prefix>/YYYY/MM/DD/HH/` (the prefix staging reads,
from the settings); several objects of one hour make one key. Song files alone start
staging for the hour S3 saw them. The keys are emitted on `landed` (`add_partitions`), so
`stage_events` and `stage_songs` run for those hours within seconds, then `model` and
`quality` by their Assets. S3's test event is ignored; a message
that is not understood is logged with its body and dropped; nothing to stage skips the task.
Unscheduled with `SPARKIFY_INGEST=schedule`.
When it fails: the task log lists every message and what became of it. The messages are off
the queue once received, but each batch is kept as the asset event the run was triggered
by: clearing the run routes it again, and the ledger loads no object twice. Hours lost here
are still staged by `detect_landing` (with `SPARKIFY_INGEST=both`) and `restage_late`.
"""

from __future__ import annotations

from airflow.sdk import dag

from sparkify.pipeline import ingest
from sparkify.pipeline.assets import landed
from sparkify.pipeline.dag_defaults import DEFAULT_ARGS, ON_FAILURE, START_DATE
from sparkify.pipeline.operators.route import RouteNotificationsOperator

# The watched Asset, also the task's inlet: the task reads the events its run's window missed.
NOTIFICATIONS = ingest.notifications_schedule()


@dag(
    schedule=NOTIFICATIONS,
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    on_failure_callback=ON_FAILURE,
    # One at a time: batches that arrive while a run routes wait and go in the next run
    # together, so a burst of objects of one hour still stages that hour once.
    max_active_runs=1,
    tags=["sparkify", "staging", "events"],
    doc_md=__doc__,
)
def route_notifications():
    RouteNotificationsOperator(
        task_id="route_notifications", inlets=NOTIFICATIONS or [], outlets=[landed]
    )


route_notifications()
