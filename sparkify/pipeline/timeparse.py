"""Lenient, lossless reading of integers and event hours from decoded JSON values.

Shared by landing (which needs each line's ``ts``) and staging (which reads
``ts``, ``sessionId``, ``itemInSession`` and ``status``). Producers sometimes send
``"ts":"1541990217796"`` or ``"sessionId":184.0``; those carry an exact integer and
are accepted. Anything that would lose information (``3.5``, ``"yesterday"``) or
is of another kind altogether (``true``, ``null``, objects, arrays) is not.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

MS_PER_HOUR = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# ASCII digits only: int() would also accept "١٢" or "1_000", which no producer means.
_MAX_DIGITS = 1000
_INTEGRAL_TEXT = re.compile(r"[+-]?[0-9]+(?:\.0*)?", re.ASCII)


def coerce_int(value: object) -> int | None:
    """Return ``value`` as an int when that loses nothing, else ``None``.

    Accepted: an int (not a bool); a finite float with no fractional part; a string
    that, once surrounding ASCII white space is stripped, is an integer literal with an
    optional sign or an integral decimal such as ``"1541990217796.0"``, of at most
    ``_MAX_DIGITS`` significant digits (a longer one is ``None``, never converted).
    """
    # bool is a subclass of int, but `true` is never a timestamp or an id.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        return None
    if isinstance(value, str):
        text = value.strip(" \t\n\v\f\r")
        if _INTEGRAL_TEXT.fullmatch(text):
            digits = text.split(".", 1)[0]
            if len(digits.lstrip("+-").lstrip("0")) > _MAX_DIGITS:
                return None  # past any timestamp or id, and past what int() converts
            return int(digits)
    return None


def hour_of_ms(ts_ms: int) -> datetime:
    """The UTC hour (an aware datetime with minutes and below zeroed) of epoch milliseconds.

    Raises ``OverflowError`` when the hour is outside what ``datetime`` can hold.
    """
    # Integer arithmetic: a float division would misplace events a hair before the hour.
    return _EPOCH + timedelta(hours=ts_ms // MS_PER_HOUR)
