"""Bucket notifications to partition keys (sparkify.pipeline.notifications), and the routing
operator's outlet events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import quote_plus

import pytest
from airflow.sdk.exceptions import AirflowSkipException
from airflow.sdk.execution_time.context import OutletEventAccessors
from airflow.sdk.execution_time.task_runner import _serialize_outlet_events

from sparkify.pipeline import assets, notifications, settings
from sparkify.pipeline.notifications import (
    BODY_LIMIT,
    NotificationError,
    Router,
    messages_of,
    parse_body,
)
from sparkify.pipeline.operators.route import RouteNotificationsOperator

BUCKET = "sparkify-local"
NOW = datetime(2026, 12, 1, 16, 42, 7, tzinfo=UTC)
ROUTER = Router(bucket=BUCKET, events_prefix="log_data", songs_prefix="song_data")


def s3_event(*keys: str, bucket: str = BUCKET, name: str = "ObjectCreated:Put", at=None) -> str:
    """A body as S3 (and moto) sends it: keys URL-encoded."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventTime": at or "2026-12-01T15:59:58.123Z",
                    "eventName": name,
                    "s3": {
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": {"key": quote_plus(key), "size": 10, "eTag": "abc"},
                    },
                }
                for key in keys
            ]
        }
    )


def message(body: str, message_id: str | None = None) -> dict:
    return {"MessageId": message_id or str(hash(body)), "ReceiptHandle": "r", "Body": body}


TEST_EVENT = json.dumps(
    {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-12-01T16:00:00Z"}
)


# -- parsing one body ---------------------------------------------------------------------
def test_an_s3_event_names_its_objects_keys_decoded() -> None:
    (notice,) = parse_body(s3_event("log_data/2018/11/13/05/part 1+2.json"))
    assert notice.bucket == BUCKET
    assert notice.key == "log_data/2018/11/13/05/part 1+2.json"
    assert notice.created
    assert notice.time == datetime(2026, 12, 1, 15, 59, 58, 123000, tzinfo=UTC)


def test_the_test_event_is_recognised() -> None:
    assert parse_body(TEST_EVENT) is None


def test_an_sns_envelope_is_opened() -> None:
    body = json.dumps({"Type": "Notification", "Message": s3_event("song_data/A/TRA.json")})
    assert [n.key for n in parse_body(body)] == ["song_data/A/TRA.json"]


def test_an_eventbridge_event_is_read_with_its_key_as_written() -> None:
    body = json.dumps(
        {
            "version": "0",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "time": "2026-12-01T16:00:01Z",
            "detail": {"bucket": {"name": BUCKET}, "object": {"key": "log_data/a+b.json"}},
        }
    )
    (notice,) = parse_body(body)
    assert notice.key == "log_data/a+b.json"
    assert notice.created


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "[1, 2]",
        json.dumps({"Records": []}),
        json.dumps({"Records": [{"eventSource": "aws:sqs"}]}),
        json.dumps({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {}}}]}),
        json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}),
        json.dumps({"hello": "world"}),
    ],
)
def test_what_is_not_a_notification_is_refused(body: str) -> None:
    with pytest.raises(NotificationError):
        parse_body(body)


# -- routing a batch ----------------------------------------------------------------------
def test_several_objects_of_one_hour_make_one_key() -> None:
    routing = ROUTER.route(
        [
            message(s3_event("log_data/2018/11/13/05/a.json")),
            message(s3_event("log_data/2018/11/13/05/b.json", "log_data/2018/11/13/05/c.json")),
            message(s3_event("log_data/2018/11/13/07/d.json")),
        ],
        now=NOW,
    )
    assert routing.keys == ["2018-11-13T05:00:00", "2018-11-13T07:00:00"]
    assert routing.events["2018-11-13T05:00:00"] == [
        "log_data/2018/11/13/05/a.json",
        "log_data/2018/11/13/05/b.json",
        "log_data/2018/11/13/05/c.json",
    ]
    assert routing.messages == 3


def test_the_test_event_is_ignored_and_stages_nothing() -> None:
    routing = ROUTER.route([message(TEST_EVENT)], now=NOW)
    assert routing.keys == []
    assert routing.test_events == 1
    assert routing.unreadable == []


def test_song_files_alone_stage_the_hour_s3_saw_the_first() -> None:
    routing = ROUTER.route(
        [
            message(s3_event("song_data/A/B/C/TRABC1.json", at="2026-12-01T15:59:58Z")),
            message(s3_event("song_data/A/B/D/TRABD1.json", at="2026-12-01T16:00:03Z")),
        ],
        now=NOW,
    )
    assert routing.keys == ["2026-12-01T15:00:00"]
    assert len(routing.songs) == 2


def test_song_files_without_a_time_take_the_routing_hour() -> None:
    body = json.loads(s3_event("song_data/A/TRA.json"))
    del body["Records"][0]["eventTime"]
    routing = ROUTER.route([message(json.dumps(body))], now=NOW)
    assert routing.keys == ["2026-12-01T16:00:00"]


def test_song_files_with_events_add_no_key_of_their_own() -> None:
    # stage_songs runs for every key and loads every new song file, whatever hour.
    routing = ROUTER.route(
        [message(s3_event("song_data/A/TRA.json", "log_data/2018/11/13/05/a.json"))], now=NOW
    )
    assert routing.keys == ["2018-11-13T05:00:00"]
    assert routing.songs == ["song_data/A/TRA.json"]


def test_an_unreadable_message_is_dropped_with_its_body_and_the_rest_routed() -> None:
    routing = ROUTER.route(
        [
            message("{not json", "m-1"),
            message(s3_event("log_data/2018/11/13/05/a.json")),
            {"MessageId": "m-3"},  # no body
        ],
        now=NOW,
    )
    assert routing.keys == ["2018-11-13T05:00:00"]
    assert [(u.message_id, u.body) for u in routing.unreadable] == [
        ("m-1", "{not json"),
        ("m-3", "None"),
    ]
    assert routing.unreadable[0].reason.startswith("not JSON")


def test_an_unreadable_body_is_logged_bounded() -> None:
    (bad,) = ROUTER.route([message("x" * (BODY_LIMIT * 3))], now=NOW).unreadable
    assert bad.body.startswith("x" * BODY_LIMIT)
    assert bad.body.endswith(f"({BODY_LIMIT * 3} chars)")


def test_a_message_seen_twice_in_a_batch_is_counted_once() -> None:
    body = s3_event("log_data/2018/11/13/05/a.json")
    routing = ROUTER.route([message(body, "same"), message(body, "same")], now=NOW)
    assert routing.duplicates == 1
    assert routing.events == {"2018-11-13T05:00:00": ["log_data/2018/11/13/05/a.json"]}


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("log_data/2018/11/2018-11-13-events.json", "not under log_data/YYYY/MM/DD/HH/"),
        ("log_data/2018/13/40/25/a.json", "not under log_data/YYYY/MM/DD/HH/"),
        ("log_data/2018/11/13/05/", "not a .json object"),
        ("log_data/2018/11/13/05/a.csv", "not a .json object"),
        ("_manifests/events/2018/11/13/05.json", "outside the events and songs prefixes"),
        ("log_data_old/2018/11/13/05/a.json", "outside the events and songs prefixes"),
    ],
)
def test_objects_outside_the_layout_are_ignored(key: str, why: str) -> None:
    routing = ROUTER.route([message(s3_event(key))], now=NOW)
    assert routing.keys == []
    assert routing.ignored[0][0] == key
    assert routing.ignored[0][1].startswith(why)


def test_other_buckets_and_other_events_are_ignored() -> None:
    routing = ROUTER.route(
        [
            message(s3_event("log_data/2018/11/13/05/a.json", bucket="someone-else")),
            message(s3_event("log_data/2018/11/13/05/a.json", name="ObjectRemoved:Delete")),
        ],
        now=NOW,
    )
    assert routing.keys == []
    assert [why for _, why in routing.ignored] == [
        "bucket someone-else, not sparkify-local",
        "event ObjectRemoved:Delete is not routed",
    ]


def test_messages_come_from_every_asset_event_of_the_run() -> None:
    first = {"from_trigger": True, "payload": {"status": "success", "message_batch": [{"a": 1}]}}
    second = {"payload": {"message_batch": [{"b": 2}, {"c": 3}]}}
    messages, unreadable = messages_of([first, second, {"manual": "event"}, None])
    assert messages == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert [u.reason for u in unreadable] == ["asset event without a message batch"] * 2


# -- the operator -------------------------------------------------------------------------
class TriggeringEvents(dict):
    """What the task context's ``triggering_asset_events`` looks like: asset -> events."""


RUN_AFTER = datetime(2026, 12, 1, 3, 0, 10, tzinfo=UTC)


class InletEvents:
    """What the context's ``inlet_events`` gives for the inlet: its events from ``after``
    on (inclusive, as the execution API filters), oldest first."""

    def __init__(self, events: list[SimpleNamespace]) -> None:
        self.events = events
        self.asked: list[str] = []

    def __iter__(self):
        return iter([assets.bucket_notifications()])

    def __getitem__(self, _asset):
        return self

    def after(self, moment: str) -> list[SimpleNamespace]:
        self.asked.append(moment)
        return [e for e in self.events if e.timestamp >= datetime.fromisoformat(moment)]


def batch_event(batch: list[dict], **fields) -> SimpleNamespace:
    return SimpleNamespace(
        extra={"from_trigger": True, "payload": {"message_batch": batch}}, **fields
    )


def run_operator(monkeypatch, *batches: list[dict], inlet: InletEvents | None = None):
    monkeypatch.setenv("SPARKIFY_BUCKET", BUCKET)
    settings.current.cache_clear()
    watched = assets.bucket_notifications()
    outlet_events = OutletEventAccessors()
    context = {
        "triggering_asset_events": TriggeringEvents(
            {watched: [batch_event(batch) for batch in batches]}
        ),
        "outlet_events": outlet_events,
        "inlet_events": inlet or InletEvents([]),
        "dag_run": SimpleNamespace(dag_id="route_notifications", run_after=RUN_AFTER),
    }
    op = RouteNotificationsOperator(task_id="route_notifications", outlets=[assets.landed])
    try:
        result = op.execute(context)
    finally:
        settings.current.cache_clear()
    return result, list(_serialize_outlet_events(outlet_events))


def consumed_by(dag_id: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(dag_id=dag_id, run_id=f"{dag_id}-run")]


def test_a_batch_no_run_consumed_is_routed_with_the_next_run(monkeypatch) -> None:
    """Airflow 3.3.2 can leave a batch delivered while a run is busy to no run: the next run
    routes every later event of the inlet that no run of its DAG consumed."""
    later = timedelta(seconds=3)
    inlet = InletEvents(
        [
            # This run's own batch, consumed by it: routed once, from the triggering events.
            batch_event(
                [message(s3_event("log_data/2018/11/13/05/a.json"))],
                id=1, timestamp=RUN_AFTER, created_dagruns=consumed_by("route_notifications"),
            ),
            # Delivered while the run waited, consumed by no run: routed now.
            batch_event(
                [message(s3_event("log_data/2018/11/13/07/c.json"), "m-c")],
                id=2, timestamp=RUN_AFTER + later, created_dagruns=[],
            ),
            # Consumed by another DAG's run only: still this DAG's to route.
            batch_event(
                [message(s3_event("log_data/2018/11/13/08/d.json"), "m-d")],
                id=3, timestamp=RUN_AFTER + 2 * later, created_dagruns=consumed_by("other"),
            ),
            # Consumed by a later run of this DAG: not routed again.
            batch_event(
                [message(s3_event("log_data/2018/11/13/09/e.json"), "m-e")],
                id=4, timestamp=RUN_AFTER + 3 * later,
                created_dagruns=consumed_by("route_notifications"),
            ),
        ]
    )  # fmt: skip
    result, emitted = run_operator(
        monkeypatch, [message(s3_event("log_data/2018/11/13/05/a.json"))], inlet=inlet
    )
    assert inlet.asked == [RUN_AFTER.isoformat()]
    assert sorted(e["partition_key"] for e in emitted) == [
        "2018-11-13T05:00:00",
        "2018-11-13T07:00:00",
        "2018-11-13T08:00:00",
    ]
    assert result["event_objects"] == 3


def test_the_operator_emits_one_landed_event_per_hour(monkeypatch) -> None:
    result, emitted = run_operator(
        monkeypatch,
        [message(TEST_EVENT), message(s3_event("log_data/2018/11/13/05/a.json"))],
        [message(s3_event("log_data/2018/11/13/05/b.json", "log_data/2018/11/13/06/c.json"))],
    )
    assert sorted(e["partition_key"] for e in emitted) == [
        "2018-11-13T05:00:00",
        "2018-11-13T06:00:00",
    ]
    assert {e["dest_asset_key"]["name"] for e in emitted} == {"landed"}
    assert result["event_objects"] == 3
    assert result["test_events"] == 1


def test_the_operator_skips_a_batch_with_nothing_to_stage(monkeypatch) -> None:
    with pytest.raises(AirflowSkipException):
        run_operator(monkeypatch, [message(TEST_EVENT), message("garbage")])


def test_the_operator_logs_a_dropped_message_with_its_body(monkeypatch, capsys) -> None:
    result, _ = run_operator(
        monkeypatch,
        [message("garbage-body", "m-9"), message(s3_event("log_data/2018/11/13/05/a.json"))],
    )
    assert result["unreadable"] == 1
    logged = capsys.readouterr().out  # Airflow's structlog writes to stdout
    assert "Dropped message m-9" in logged
    assert "body: garbage-body" in logged


# -- song files announced to stage_songs ---------------------------------------------------


def test_the_landed_events_announce_the_song_files_of_the_batch(monkeypatch) -> None:
    _, emitted = run_operator(
        monkeypatch,
        [message(s3_event("song_data/A/B/C/TRB.json", "log_data/2018/11/13/05/a.json"))],
        [message(s3_event("song_data/A/A/A/TRA.json", "song_data/A/B/C/TRB.json"))],
    )
    assert [e["extra"]["song_keys"] for e in emitted] == [
        ["song_data/A/A/A/TRA.json", "song_data/A/B/C/TRB.json"]
    ]
    assert emitted[0]["extra"]["source"] == "bucket_notifications"


def test_a_bulk_upload_announces_no_song_file(monkeypatch) -> None:
    monkeypatch.setattr(notifications, "MAX_ANNOUNCED_SONGS", 2)
    _, emitted = run_operator(
        monkeypatch,
        [message(s3_event(*(f"song_data/A/A/A/TR{i}.json" for i in range(3))))],
    )
    assert "song_keys" not in emitted[0]["extra"]


def test_song_keys_are_announced_only_when_every_event_of_the_run_announces_them() -> None:
    notified = {"source": "bucket_notifications", "song_keys": ["song_data/b.json"]}
    other = {"source": "bucket_notifications", "song_keys": ["song_data/a.json"]}
    assert notifications.announced_song_keys([notified, other, notified]) == [
        "song_data/a.json",
        "song_data/b.json",
    ]
    # Events only: nothing to list, no song file to load.
    assert notifications.announced_song_keys([{**notified, "song_keys": []}]) == []
    # The schedule's event (or a backfill's, or a bulk upload's) means: list the catalogue.
    assert notifications.announced_song_keys([notified, {"partitions": 1}]) is None
    assert notifications.announced_song_keys([notified, None]) is None
    assert notifications.announced_song_keys([{"source": "bucket_notifications"}]) is None
    assert notifications.announced_song_keys([]) is None


# -- hostile bodies -----------------------------------------------------------------------

HOSTILE_BODIES = [
    "[" * 100_000 + "]" * 100_000,  # deeper than any decoder recurses
    '{"Records": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '{"Type": "Notification", "Message": "' + "[" * 50_000 + '"}',
    '{"Records": [{"eventSource": "aws:s3", "s3": ' + "{" * 5000 + "}" * 5000 + "}]}",
    '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket":'
    ' {"name": "' + BUCKET + '"}, "object": {"key": "log_data/' + "x" * 5000 + '"}}}]}',
    "x" * (notifications.MAX_BODY + 1),
    '{"Records": [1e999999]}',
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_a_hostile_body_is_reported_and_the_rest_of_the_batch_routed(body: str) -> None:
    good = s3_event("log_data/2018/11/02/13/a.json")
    routing = ROUTER.route(
        [message(body, "bad"), message(good, "good")], now=datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert routing.keys == ["2018-11-02T13:00:00"]
    assert routing.messages == 2
    reported = [u.message_id for u in routing.unreadable] + [k for k, _ in routing.ignored]
    assert len(reported) == 1
    for unreadable in routing.unreadable:
        assert len(unreadable.body) <= notifications.BODY_LIMIT + 40
