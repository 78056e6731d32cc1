"""The Airflow pools the DAGs use, and why: what `sparkify stack up` creates and a
deployment creates once (docs/deployment.md). No Airflow import: the REST side reads it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    slots: int
    description: str


# `staged_events` and `staged_songs` emitted one at a time, by the staging DAGs' `announce`
# tasks. `model` waits for both for a key, and Airflow 3.3.2 serialises the creation of that
# pending run per *source* asset only (apache/airflow#71070): two emissions committed at the
# same moment each create a pending run of their own, neither complete, and `model` never
# runs for the key.
ANNOUNCE_POOL = Pool(
    name="sparkify_announce",
    slots=1,
    description="Sparkify: staged_events and staged_songs emitted one at a time "
    "(apache/airflow#71070)",
)

POOLS = (ANNOUNCE_POOL,)
