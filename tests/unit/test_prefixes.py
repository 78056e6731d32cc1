"""One source for where the data lands: the settings' ``events_prefix`` and ``songs_prefix``.

Moved with ``SPARKIFY_EVENTS_PREFIX`` and ``SPARKIFY_SONGS_PREFIX``, every reader and writer
of the bucket follows: staging and its sensor, the routing of bucket notifications, late
detection, and the local tooling (landing, the stack's bucket notifications). An object
under the old prefixes is neither staged nor routed. The DAGs are parsed before the
variables are set: no prefix is fixed when a DAG file is parsed. S3 is moto's in-process
mock; the warehouse is a mock.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from sparkify.pipeline import partitions, settings
from sparkify.pipeline.notifications import Router
from sparkify.pipeline.operators.sensors import HourPrefixSensor
from sparkify.pipeline.staging.stats import StageStats
from tests.unit.moto_s3 import mocked_bucket
from tests.unit.test_notifications import message, run_operator, s3_event
from tests.unit.test_operators import DAGS, db_hook

BUCKET = "sparkify-local"  # the bucket of the routing operator's messages (test_notifications)
KEY = "2018-11-02T13:00:00"
HOUR = partitions.parse_key(KEY)
NEW_EVENTS = "raw/events/2018/11/02/13/new.json"
OLD_EVENTS = "log_data/2018/11/02/13/old.json"
NEW_SONG = "raw/songs/A/B/C/TRNEW.json"
OLD_SONG = "song_data/A/B/C/TROLD.json"


@pytest.fixture(scope="module")
def dags() -> dict:
    """The DAG files, parsed with the prefixes at their defaults."""
    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


@pytest.fixture
def moved(monkeypatch: pytest.MonkeyPatch) -> settings.Settings:
    """The settings with both prefixes moved, as a task process reads them."""
    monkeypatch.setenv("SPARKIFY_EVENTS_PREFIX", "raw/events")
    monkeypatch.setenv("SPARKIFY_SONGS_PREFIX", "raw/songs")
    monkeypatch.setenv("SPARKIFY_BUCKET", BUCKET)
    settings.current.cache_clear()
    yield settings.current()
    settings.current.cache_clear()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    """A bucket holding one events object and one song file under each pair of prefixes."""
    with mocked_bucket(monkeypatch, BUCKET) as client:
        for key in (NEW_EVENTS, OLD_EVENTS, NEW_SONG, OLD_SONG):
            client.put_object(Bucket=BUCKET, Key=key, Body=b"{}\n")
        yield client


def keys_under(client, prefix: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(item["Key"] for item in listed)


def s3_hook_class(client) -> mock.MagicMock:
    """A stand-in for ``S3Hook`` whose client is moto's."""
    hook_class = mock.MagicMock(spec=S3Hook)
    hook_class.return_value.get_client_type.return_value = client
    return hook_class


def context(**extra) -> dict:
    return {
        "dag_run": SimpleNamespace(partition_key=KEY),
        "outlet_events": defaultdict(mock.MagicMock),
        **extra,
    }


def test_the_settings_derive_the_hour_prefix_and_the_songs_root(moved) -> None:
    assert moved.events_hour_pattern == "raw/events/%Y/%m/%d/%H/"
    assert moved.songs_root == "raw/songs/"
    assert partitions.events_prefix(moved.events_prefix, HOUR) == "raw/events/2018/11/02/13/"


@pytest.mark.parametrize(
    ("dag_id", "stager", "staged"),
    [
        ("stage_events", "sparkify.pipeline.staging.postgres.stage_events", [NEW_EVENTS]),
        ("stage_songs", "sparkify.pipeline.staging.postgres.stage_songs", [NEW_SONG]),
    ],
)
def test_staging_reads_the_prefixes_of_the_settings(dags, moved, s3, dag_id, stager, staged):
    task = dags[dag_id].get_task(dag_id)
    with (
        mock.patch("sparkify.pipeline.warehouse.hook", return_value=db_hook("postgres")),
        mock.patch("airflow.providers.amazon.aws.hooks.s3.S3Hook", s3_hook_class(s3)),
        mock.patch(stager, return_value=StageStats("x", KEY)) as stage,
    ):
        task.execute(context())
    (_conn, _source, objects, hour), _ = stage.call_args
    assert hour == HOUR
    assert [o.key for o in objects] == staged  # the old prefixes' objects are not read


def test_the_sensor_waits_on_the_hour_prefix_of_the_settings(dags, moved, s3) -> None:
    sensor = dags["detect_landing"].get_task("wait_for_events")
    hook = mock.MagicMock(spec=S3Hook)
    hook.get_s3_bucket_key.side_effect = S3Hook.get_s3_bucket_key
    hook.iter_file_metadata.side_effect = lambda prefix, bucket, **_: [
        {"Key": key, "Size": 3} for key in keys_under(s3, prefix)
    ]
    within_the_hour = HOUR + partitions.HOUR / 2
    with (
        mock.patch.object(HourPrefixSensor, "hook", hook),
        mock.patch("sparkify.pipeline.operators.sensors.now", return_value=within_the_hour),
    ):
        assert sensor.poke(context()) is True
    hook.iter_file_metadata.assert_called_once_with("raw/events/2018/11/02/13/", BUCKET)
    assert sensor.bucket_key == "raw/events/2018/11/02/13/*"


def test_notifications_route_the_new_prefix_and_not_the_old_one(monkeypatch, moved) -> None:
    new = "raw/events/2018/11/13/05/a.json"
    old = "log_data/2018/11/13/06/b.json"  # another hour: routed, it would be a key of its own
    result, emitted = run_operator(
        monkeypatch, [message(s3_event(new)), message(s3_event(old)), message(s3_event(NEW_SONG))]
    )
    assert [e["partition_key"] for e in emitted] == ["2018-11-13T05:00:00"]
    assert result["event_objects"] == 1
    assert result["song_objects"] == 1
    assert result["ignored"] == 1

    router = Router(bucket=BUCKET, events_prefix=moved.events_prefix, songs_prefix="raw/songs")
    routing = router.route([message(s3_event(new, old))], now=datetime.now(UTC))
    assert routing.events == {"2018-11-13T05:00:00": [new]}
    assert routing.ignored == [(old, "outside the events and songs prefixes")]


def test_late_detection_lists_and_restages_the_prefixes_of_the_settings(dags, moved, s3):
    task = dags["restage_late"].get_task("restage_late_hours")
    warehouse = db_hook("postgres")
    cursor = warehouse.get_conn.return_value.cursor.return_value.__enter__.return_value
    cursor.fetchall.return_value = [(partitions.naive_utc(HOUR),)]  # the hour was staged
    compared = []

    def ledger_matches(_cur, _dataset, objects, _hour):
        compared.append([o.key for o in objects])
        return False  # other objects than the ledger holds: late

    restaged = []

    def stage_partition(fmt, hour, prefix, **_):
        restaged.append((fmt, hour, prefix))
        return StageStats("events" if fmt == "jsonl" else "songs", partitions.format_key(hour))

    with (
        mock.patch("sparkify.pipeline.warehouse.hook", return_value=warehouse),
        mock.patch("airflow.providers.amazon.aws.hooks.s3.S3Hook", s3_hook_class(s3)),
        mock.patch("sparkify.pipeline.staging.ledger.run"),
        mock.patch("sparkify.pipeline.staging.ledger.ledger_matches", ledger_matches),
        mock.patch("sparkify.pipeline.operators.late.stage_partition", stage_partition),
    ):
        result = task.execute(context())
    assert compared == [[NEW_EVENTS]]
    assert restaged == [
        ("jsonl", HOUR, "raw/events/2018/11/02/13/"),
        ("json_object", HOUR, "raw/songs/"),
    ]
    assert result["late_partitions"] == [KEY]


def test_landing_and_the_stacks_notifications_follow_the_settings(moved, s3, tmp_path) -> None:
    from sparkify.local.land import land
    from sparkify.local.stack import notifications

    source = tmp_path / "export"
    (source / "log_data/2018/11").mkdir(parents=True)
    (source / "song_data/A/B/C").mkdir(parents=True)
    event = {"ts": int(datetime(2018, 11, 2, 13, 5, tzinfo=UTC).timestamp() * 1000)}
    (source / "log_data/2018/11/2018-11-02-events.json").write_text(json.dumps(event))
    (source / "song_data/A/B/C/TRLANDED.json").write_text('{"song_id": "S1"}')
    land(source, bucket=BUCKET, s3_client=s3)
    assert keys_under(s3, "raw/") == sorted(
        [
            NEW_EVENTS,
            "raw/events/2018/11/02/13/2018-11-02-events.json",
            NEW_SONG,
            "raw/songs/A/B/C/TRLANDED.json",
        ]
    )
    assert keys_under(s3, "log_data/") == [OLD_EVENTS]  # what the bucket held before
    assert keys_under(s3, "song_data/") == [OLD_SONG]
    assert notifications.data_prefixes() == ("raw/events/", "raw/songs/")
    wanted = notifications.notification_configuration("arn", notifications.data_prefixes())
    rules = [q["Filter"]["Key"]["FilterRules"][0] for q in wanted["QueueConfigurations"]]
    assert [rule["Value"] for rule in rules] == ["raw/events/", "raw/songs/"]


def test_the_stack_tooling_reads_the_settings_its_airflow_reads(clean_env, moved, tmp_path):
    """The stack's processes run with its environment over this process's: the tooling
    (landing in the demo, the live demo, the bucket's notifications) reads the same."""
    from sparkify.local.stack.stack import Stack

    stack = Stack(tmp_path / "state")
    stack.init_config()
    configured = stack.pipeline_settings()
    assert configured.env == "local"
    assert (configured.events_prefix, configured.songs_prefix) == ("raw/events", "raw/songs")
    assert configured.bucket == stack.bucket


@pytest.mark.parametrize(
    ("events", "songs"),
    [("data", "data/songs"), ("data/events", "data"), ("raw", "/raw/"), ("/", "song_data")],
)
def test_prefixes_that_overlap_or_name_the_whole_bucket_are_refused(events, songs) -> None:
    environ = {"SPARKIFY_EVENTS_PREFIX": events, "SPARKIFY_SONGS_PREFIX": songs}
    with pytest.raises(settings.SettingsError, match=r"overlap|whole bucket"):
        settings.load("local", environ=environ)


def test_sibling_prefixes_that_share_a_beginning_are_accepted() -> None:
    environ = {"SPARKIFY_EVENTS_PREFIX": "log", "SPARKIFY_SONGS_PREFIX": "log_data"}
    loaded = settings.load("local", environ=environ)
    assert (loaded.events_hour_pattern, loaded.songs_root) == ("log/%Y/%m/%d/%H/", "log_data/")
