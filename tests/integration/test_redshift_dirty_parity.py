"""Dirty data through Redshift's staging (via the rehearsal) is accounted for as on PostgreSQL.

The data set, landing and PostgreSQL staging are ``test_dirty_data``'s; the same landed
objects are then staged by ``sparkify.pipeline.staging.redshift`` through the Redshift
rehearsal into a fresh database, hour by hour, and each partition's line accounting (read,
staged, rejected, duplicate) is compared with PostgreSQL's. Where Redshift cannot know what
PostgreSQL knows (coerced values, drift, the line a reject came from), the README's staging
rules table says so; those are not compared.
"""

# The fixtures imported from test_dirty_data are named as parameters, as pytest wants.
# ruff: noqa: F811

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest

from sparkify.local.stack.config import REHEARSAL_IAM_ROLE
from sparkify.pipeline import partitions
from sparkify.pipeline import settings as settings_module
from sparkify.pipeline.sql import render, statements
from sparkify.pipeline.staging.objects import S3Objects
from sparkify.pipeline.staging.redshift import stage_redshift
from tests.integration.conftest import (
    backend_connect,
    fresh_database,
    redshift_connect,
    running_rehearsal,
)
from tests.integration.test_dirty_data import (  # noqa: F401 (fixtures)
    DAYS,
    START,
    dirty_dataset,
    staged,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redshift_staged(stack, staged):
    """Every hour of the dirty data set staged again, on Redshift's path, via the rehearsal."""
    settings = settings_module.load(
        "local",
        environ={"SPARKIFY_BUCKET": staged["bucket"], "SPARKIFY_IAM_ROLE": REHEARSAL_IAM_ROLE},
    )
    with running_rehearsal(stack) as port, fresh_database(stack) as name:
        hook = SimpleNamespace(
            get_conn=lambda: redshift_connect(stack, port, name), conn_type="redshift"
        )
        conn = hook.get_conn()
        with conn.cursor() as cur:
            for sql in statements(render("schema/create_tables", "redshift")):
                cur.execute(sql)
        conn.commit()
        conn.close()
        source = S3Objects(staged["s3"], staged["bucket"])
        events = {}
        for hour in partitions.hours_between(START, START + timedelta(days=DAYS - 1)):
            prefix = partitions.events_prefix("log_data", hour)
            objects = source.list(prefix)
            key = partitions.format_key(hour)
            events[key] = stage_redshift(
                hook, source, objects, hour, prefix, dataset="events", settings=settings
            )
        songs = stage_redshift(
            hook,
            source,
            source.list("song_data/"),
            partitions.parse_key(max(events)),
            "song_data/",
            dataset="songs",
            settings=settings,
        )
        with backend_connect(stack, name) as look:
            yield {"events": events, "songs": songs, "conn": look}


def accounting(stats) -> tuple[int, int, int, int]:
    return (stats.read, stats.staged, stats.rejected, stats.duplicate)


def test_every_hour_accounts_for_its_lines_as_on_postgres(staged, redshift_staged) -> None:
    differ = {
        key: (accounting(pg), accounting(redshift_staged["events"][key]))
        for key, pg in staged["events"].items()
        if accounting(pg) != accounting(redshift_staged["events"][key])
    }
    assert not differ, differ


def test_totals_and_the_reject_table_agree(staged, redshift_staged) -> None:
    expected = staged["manifest"]["outcomes"]
    rs = redshift_staged["conn"]
    read, staged_rows, rejected, duplicate = (
        int(v)
        for v in rs.execute(
            "SELECT SUM(rows_read), SUM(rows_staged), SUM(rows_rejected), SUM(rows_duplicate) "
            "FROM staging_partitions WHERE dataset = 'events'"
        ).fetchone()
    )
    assert rejected == expected["rejected"]
    assert duplicate == expected["duplicate"]
    assert read == staged_rows + rejected + duplicate
    (rows,) = rs.execute("SELECT COUNT(*) FROM staging_rejects WHERE dataset = 'events'").fetchone()
    assert rows == rejected


def test_required_fields_and_nested_values_have_postgres_reasons(staged, redshift_staged) -> None:
    """Where the reason can be told after COPY, it is PostgreSQL's own."""

    def reasons(conn) -> Counter:
        rows = conn.execute(
            "SELECT reason, COUNT(*) FROM staging_rejects WHERE dataset = 'events' "
            "AND (reason LIKE 'missing_field:%' OR reason LIKE 'bad_type:%') GROUP BY reason"
        ).fetchall()
        return Counter(dict(rows))

    pg, rs = reasons(staged["conn"]), reasons(redshift_staged["conn"])
    missing = {r: n for r, n in pg.items() if r.startswith("missing_field:")}
    assert missing
    assert {r: n for r, n in rs.items() if r.startswith("missing_field:")} == missing
    # Nested values in text fields: PostgreSQL's bad_type:<key> for a text key.
    text_keys = ("level", "song", "userAgent", "location", "page")
    nested = {r: n for r, n in pg.items() if r.split(":", 1)[1] in text_keys}
    assert {r: n for r, n in rs.items() if r.split(":", 1)[1] in text_keys} == nested


def test_songs_account_as_on_postgres(staged, redshift_staged) -> None:
    assert accounting(redshift_staged["songs"]) == accounting(staged["songs"])
