"""Which errors count as a serialization failure, and how the retry treats them."""

from __future__ import annotations

import pytest

from sparkify.pipeline import serialization
from sparkify.pipeline.serialization import is_serialization_failure, retrying

REDSHIFT_1023 = {"S": "ERROR", "C": "XX000", "M": "1023", "D": "Serializable isolation ..."}


class DriverError(Exception):
    pass


class Psycopg(Exception):
    sqlstate = "40001"


@pytest.mark.parametrize(
    "exc",
    [
        DriverError(REDSHIFT_1023),
        DriverError({"C": "40001", "M": "could not serialize access"}),
        Psycopg("could not serialize access due to concurrent update"),
        DriverError("ERROR: 1023 DETAIL: Serializable isolation violation on table - 101017"),
    ],
)
def test_serialization_failures_are_recognised(exc) -> None:
    assert is_serialization_failure(exc)


@pytest.mark.parametrize(
    "exc",
    [
        DriverError({"S": "ERROR", "C": "XX000", "M": "1216", "D": "Missing data for ..."}),
        DriverError({"C": "42P01", "M": 'relation "x" does not exist'}),
        RuntimeError("connection reset"),
        DriverError("10230 rows"),
    ],
)
def test_other_errors_are_not(exc) -> None:
    assert not is_serialization_failure(exc)


def test_the_work_is_retried_until_it_succeeds() -> None:
    calls, waits = [], []

    def work():
        calls.append(1)
        if len(calls) < 3:
            raise DriverError(REDSHIFT_1023)
        return "done"

    assert retrying(work, sleep=waits.append) == "done"
    assert len(calls) == 3
    assert len(waits) == 2
    assert all(w >= 0 for w in waits)


def test_the_last_failure_is_raised() -> None:
    calls = []

    def work():
        calls.append(1)
        raise DriverError(REDSHIFT_1023)

    with pytest.raises(DriverError):
        retrying(work, attempts=3, sleep=lambda s: None)
    assert len(calls) == 3


def test_other_errors_are_raised_at_once() -> None:
    calls = []

    def work():
        calls.append(1)
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        retrying(work, sleep=lambda s: None)
    assert calls == [1]


def test_the_delay_grows_and_is_capped() -> None:
    import random

    rng = random.Random(1)
    first = [serialization.delay(1, rng) for _ in range(200)]
    third = [serialization.delay(3, rng) for _ in range(200)]
    late = [serialization.delay(12, rng) for _ in range(200)]
    assert all(0 <= d <= serialization.FIRST_DELAY_S for d in first)
    assert all(0 <= d <= 4 * serialization.FIRST_DELAY_S for d in third)
    assert all(0 <= d <= serialization.MAX_DELAY_S for d in late)
    assert max(late) > serialization.MAX_DELAY_S / 2 > max(first)


def test_the_delay_is_full_jitter_anywhere_below_the_ceiling() -> None:
    """Full jitter, not equal jitter: the waits cover the whole interval from 0 to the
    ceiling, its lower half too, so retries aborted together do not meet again."""
    import random

    rng = random.Random(2)
    late = [serialization.delay(12, rng) for _ in range(400)]
    ceiling = serialization.MAX_DELAY_S
    assert min(late) < ceiling * 0.1
    assert sum(d < ceiling / 2 for d in late) > 100  # about half of them
    assert max(late) > ceiling * 0.9
