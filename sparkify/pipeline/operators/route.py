"""Route the bucket's notifications, as the watcher delivered them, to `landed` partitions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from sparkify.pipeline import notifications
from sparkify.pipeline.notifications import Router, messages_of

if TYPE_CHECKING:
    from airflow.sdk import Context


class RouteNotificationsOperator(BaseOperator):
    """Turn every SQS message of the run's triggering asset events into hour partition keys,
    and emit them on the outlet Asset with ``add_partitions``.

    A run can carry many asset events (the watcher fires once per batch it receives, and
    batches that arrive while a run is busy wait for the next one); every message of every
    event is read. So is every later event of the inlet ``bucket_notifications`` that no run
    of this DAG has consumed yet (``stranded``): Airflow 3.3.2 queues an asset-triggered DAG
    with one row per asset, created at the first event, and ends the next run's window at
    that row's time, so a second batch delivered while the row waits (while a run is busy,
    with ``max_active_runs=1``) is consumed by no run until another batch arrives. Routing
    an event twice is harmless: the load ledger stages no object twice. Several objects of
    one hour give one key, so one staging run. S3's test event is ignored; a message that
    cannot be understood is logged with its body and dropped. With nothing to stage the task
    is skipped, so no key-less event is emitted.

    :param bucket: the source bucket; defaults to the environment's settings
    """

    template_fields: Sequence[str] = ("bucket",)
    ui_color = "#fdf2e9"

    def __init__(self, *, bucket: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bucket = bucket

    def execute(self, context: Context) -> dict[str, Any]:
        from sparkify.pipeline import settings as settings_module

        settings = settings_module.current()
        triggering = context["triggering_asset_events"]
        events = [event for asset in triggering for event in triggering[asset]]
        late = stranded(context)
        if late:
            self.log.info(
                "%d later asset event(s) consumed by no run yet, routed with this run's: %s",
                len(late),
                ", ".join(str(event.id) for event in late),
            )
        events += late
        messages, unreadable = messages_of(event.extra for event in events)
        router = Router(
            bucket=self.bucket or settings.bucket,
            events_prefix=settings.events_prefix,
            songs_prefix=settings.songs_prefix,
        )
        routing = router.route(messages, now=datetime.now(UTC))
        routing.unreadable[:0] = unreadable
        self.log.info(
            "%d asset event(s), %d message(s): %d events object(s) in %d hour(s), "
            "%d song file(s), %d test event(s), %d duplicate(s), %d ignored, %d unreadable",
            len(events),
            routing.messages,
            sum(len(keys) for keys in routing.events.values()),
            len(routing.events),
            len(routing.songs),
            routing.test_events,
            routing.duplicates,
            len(routing.ignored),
            len(routing.unreadable),
        )
        for hour, keys in sorted(routing.events.items()):
            self.log.info("Hour %s: %s", hour, ", ".join(keys))
        if routing.songs:
            self.log.info("Song files: %s", ", ".join(routing.songs))
        for key, why in routing.ignored:
            self.log.info("Ignored %s: %s", key, why)
        for bad in routing.unreadable:
            self.log.warning(
                "Dropped message %s, not understood (%s); body: %s",
                bad.message_id or "(no id)",
                bad.reason,
                bad.body,
            )
        if not routing.keys:
            raise AirflowSkipException("nothing to stage in this batch")
        self.log.info("Emitting %s for %s", ", ".join(o.name for o in self.outlets), routing.keys)
        for outlet in self.outlets:
            accessor = context["outlet_events"][outlet]
            accessor.extra = notifications.announcement(routing)
            accessor.add_partitions(routing.keys)
        return routing.summary()


def stranded(context: Context) -> list[Any]:
    """The inlets' events since this run's window ended that no run of this DAG consumed
    (this run's own are consumed by it): those its window missed, see
    ``RouteNotificationsOperator``."""
    dag_run = context["dag_run"]
    inlet_events = context["inlet_events"]
    seen: set[int] = set()
    late = []
    for inlet in inlet_events:
        for event in inlet_events[inlet].after(dag_run.run_after.isoformat()):
            if event.id in seen or any(r.dag_id == dag_run.dag_id for r in event.created_dagruns):
                continue
            seen.add(event.id)
            late.append(event)
    return late
