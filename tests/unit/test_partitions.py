from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparkify.pipeline import partitions


def test_key_round_trip_and_prefix() -> None:
    hour = partitions.parse_key("2018-11-02T13:00:00")
    assert hour == datetime(2018, 11, 2, 13, tzinfo=UTC)
    assert partitions.format_key(hour) == "2018-11-02T13:00:00"
    assert partitions.events_prefix("log_data", hour) == "log_data/2018/11/02/13/"
    assert partitions.sql_literal(hour) == "TIMESTAMP '2018-11-02 13:00:00'"


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "2018-11-02",
        "2018-11-02T13:30:00",
        "2018-11-02T13:00:00'; DROP TABLE x; --",
        "2018-11-02 13:00:00",
    ],
)
def test_bad_keys_are_refused(key) -> None:
    with pytest.raises(partitions.PartitionKeyError):
        partitions.parse_key(key)


def test_hours_between_covers_whole_days() -> None:
    hours = list(partitions.hours_between(date(2018, 11, 1), date(2018, 11, 2)))
    assert len(hours) == 48
    assert hours[0] == datetime(2018, 11, 1, tzinfo=UTC)
    assert hours[-1] == datetime(2018, 11, 2, 23, tzinfo=UTC)


def test_a_key_names_a_window_of_one_hour_or_a_range() -> None:
    hour = partitions.parse_window("2018-11-13T05:00:00")
    assert (hour.start, hour.end) == (
        datetime(2018, 11, 13, 5, tzinfo=UTC),
        datetime(2018, 11, 13, 6, tzinfo=UTC),
    )
    assert hour.key == "2018-11-13T05:00:00"
    assert len(hour) == 1
    day = partitions.parse_window("2018-11-13T00:00:00/2018-11-14T00:00:00")
    assert len(day) == 24
    assert day.hours()[0] == datetime(2018, 11, 13, tzinfo=UTC)
    assert day.last_hour == datetime(2018, 11, 13, 23, tzinfo=UTC)
    assert day.key == "2018-11-13T00:00:00/2018-11-14T00:00:00"
    assert day.params() == {
        "window_start": datetime(2018, 11, 13),
        "window_end": datetime(2018, 11, 14),
        "partition_hour": datetime(2018, 11, 13),
    }
    # An interval of exactly one hour is that hour (its canonical key is the hour's).
    assert partitions.parse_window("2018-11-13T05:00:00/2018-11-13T06:00:00").key == hour.key


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("2018-11-14T00:00:00/2018-11-13T00:00:00", "ends before it starts"),
        ("2018-11-13T00:00:00/2018-11-13T00:00:00", "ends before it starts"),
        ("2018-11-13T00:00:00/2018-11-13T00:30:00", "not the start of an hour"),
        ("2018-11-13/2018-11-14", "is not %Y-%m-%dT%H:%M:%S"),
        ("2018-11-13T00:00:00/2018-11-14T00:00:00/2018-11-15T00:00:00", "more than one '/'"),
        ("2018-11-13T00:00:00/", "is not an interval start/end"),
        ("2018-01-01T00:00:00/2019-01-01T00:00:00", "longer than 92 days"),
        ("2018-11-13T00:00:00/2018-11-14T00:00:00'; DROP TABLE x; --", "is not"),
    ],
)
def test_bad_windows_are_refused_with_the_reason(key: str, message: str) -> None:
    with pytest.raises(partitions.PartitionKeyError, match=re.escape(message)):
        partitions.parse_window(key)


def test_day_windows_cut_a_range_at_midnight() -> None:
    start = datetime(2018, 11, 13, 20, tzinfo=UTC)
    end = datetime(2018, 11, 15, 3, tzinfo=UTC)
    windows = partitions.day_windows(start, end)
    assert [w.key for w in windows] == [
        "2018-11-13T20:00:00/2018-11-14T00:00:00",
        "2018-11-14T00:00:00/2018-11-15T00:00:00",
        "2018-11-15T00:00:00/2018-11-15T03:00:00",
    ]
    assert sum(len(w) for w in windows) == 31


@given(
    hour=st.datetimes(
        min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23), timezones=st.just(UTC)
    ).map(lambda moment: moment.replace(minute=0, second=0, microsecond=0)),
    root=st.sampled_from(["log_data", "/log_data/", "raw/events", "a.b-c_d/e"]),
)
def test_an_hours_prefix_names_its_hour_back(hour: datetime, root: str) -> None:
    """events_hour reads back what events_prefix writes: routing a key and staging its
    hour agree on the one layout."""
    prefix = partitions.events_prefix(root, hour)
    assert prefix == hour.strftime(partitions.events_hour_pattern(root))
    assert partitions.events_hour(root, prefix + "a.json") == hour
    assert partitions.events_hour(root, prefix + "sub/a.json") == hour
    assert partitions.events_hour(root, prefix) is None
    assert partitions.events_hour(root, prefix + "/a.json") is None
    assert partitions.events_hour("elsewhere", prefix + "a.json") is None
