"""Redshift's serializable isolation violation (error 1023): recognised, and the work retried.

Redshift runs every transaction SERIALIZABLE and, when two concurrent transactions could
not have run one after the other, aborts one of them with::

    {'S': 'ERROR', 'C': 'XX000', 'M': '1023',
     'D': 'Serializable isolation violation on table - 119371, transactions forming the
           cycle are: 1745830, 1745762 (pid:15021)', ...}

(``redshift_connector`` raises ``ProgrammingError`` with that dict as its argument). The
aborted transaction left nothing behind, so running it again from its first statement is
safe. PostgreSQL reports the same condition as SQLSTATE ``40001``.

The pipeline takes a lock as the first statement of each writing transaction
(``sql/ledger/lock.redshift.sql``, ``sql/load/macros.sql``), which prevents the cycles
among its own transactions; a reader or writer outside the pipeline can still form one,
hence the retry.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

REDSHIFT_CODE = "1023"
SQLSTATE = "40001"
ATTEMPTS = 5
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0

log = logging.getLogger(__name__)


def is_serialization_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (from any driver) is a serialization failure worth a retry."""
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict) and (
            str(arg.get("M", "")).strip() == REDSHIFT_CODE or arg.get("C") == SQLSTATE
        ):
            return True
    if getattr(exc, "sqlstate", None) == SQLSTATE:  # psycopg
        return True
    return "Serializable isolation violation" in str(exc)


def delay(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential, with full jitter.

    Anywhere from 0 to the ceiling, ``FIRST_DELAY_S`` doubled with each attempt up to
    ``MAX_DELAY_S``: transactions aborted by one conflict spread their retries over the whole
    interval rather than meeting again at its far half.
    """
    ceiling = min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (attempt - 1))
    return (rng or random).uniform(0, ceiling)


def retrying(
    work: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    what: str = "transaction",
    sleep: Callable[[float], None] = time.sleep,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> T:
    """Run ``work`` (one whole transaction) again while it fails on a serialization failure.

    Any other error, or the last attempt's, is raised as it is.
    """
    logger = logger or log
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if attempt == attempts or not is_serialization_failure(exc):
                raise
            wait = delay(attempt)
            logger.warning(
                "%s: serialization failure (attempt %d of %d), retried in %.1f s: %s",
                what,
                attempt,
                attempts,
                wait,
                exc,
            )
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
