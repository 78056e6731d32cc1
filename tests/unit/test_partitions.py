from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

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
