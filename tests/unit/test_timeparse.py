from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sparkify.pipeline.timeparse import coerce_int, hour_of_ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1541990217796, 1541990217796),
        (0, 0),
        (-5, -5),
        (184.0, 184),
        (1541990217796.0, 1541990217796),
        (-3.0, -3),
        ("1541990217796", 1541990217796),
        ("  1541990217796\n", 1541990217796),
        ("+42", 42),
        ("-42", -42),
        ("1541990217796.0", 1541990217796),
        ("12.000", 12),
        ("12.", 12),
        (2**70, 2**70),
    ],
)
def test_coerce_int_accepts_exact_integers(value: object, expected: int) -> None:
    result = coerce_int(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        3.5,
        1541990217796.5,
        float("nan"),
        float("inf"),
        float("-inf"),
        "",
        "   ",
        "yesterday",
        "2018-11-02T13:45:01Z",
        "12.5",
        "1e3",
        "0x1F",
        "1_000",
        "١٢",  # Arabic-Indic digits: int() takes them, no producer means them
        ".0",
        "+",
        "12 34",
        {"ts": 1},
        [1],
        b"12",
    ],
)
def test_coerce_int_refuses_anything_lossy_or_foreign(value: object) -> None:
    assert coerce_int(value) is None


def test_hour_of_ms_truncates_to_the_utc_hour() -> None:
    # 2018-11-12T02:36:57.796Z
    assert hour_of_ms(1541990217796) == datetime(2018, 11, 12, 2, tzinfo=UTC)


def test_hour_of_ms_at_the_edges_of_an_hour() -> None:
    start = int(datetime(2018, 11, 2, 13, tzinfo=UTC).timestamp()) * 1000
    assert hour_of_ms(start) == datetime(2018, 11, 2, 13, tzinfo=UTC)
    assert hour_of_ms(start - 1) == datetime(2018, 11, 2, 12, tzinfo=UTC)
    assert hour_of_ms(start + 3_599_999) == datetime(2018, 11, 2, 13, tzinfo=UTC)
    assert hour_of_ms(-1) == datetime(1969, 12, 31, 23, tzinfo=UTC)


def test_hour_of_ms_out_of_range_raises_overflow() -> None:
    with pytest.raises(OverflowError):
        hour_of_ms(10**20)
