"""Dirty data through Redshift's staging (via the rehearsal) is accounted for as on PostgreSQL.

The data set, landing and PostgreSQL staging are ``test_dirty_data``'s; the same landed
objects are then staged by ``sparkify.pipeline.staging.redshift`` through the Redshift
rehearsal into a fresh database, hour by hour, and each partition's line accounting (read,
staged, rejected, duplicate, coerced), its reject reasons and its schema drift are compared
with PostgreSQL's. Where Redshift cannot know what PostgreSQL knows (the object and line a
row or reject came from), the manual's staging rules say so (docs/staging.md); that is not compared.
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
            yield {
                "events": events,
                "songs": songs,
                "conn": look,
                "stage": lambda objects, hour, prefix: stage_redshift(
                    hook, source, objects, hour, prefix, dataset="events", settings=settings
                ),
                "source": source,
            }


def accounting(stats) -> tuple:
    return (
        stats.read,
        stats.staged,
        stats.rejected,
        stats.duplicate,
        stats.coerced,
        dict(stats.reasons),
        {kind: counts for kind, counts in stats.drift.items() if counts},
    )


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


def test_the_reject_table_holds_postgres_reasons_and_the_lines(staged, redshift_staged) -> None:
    """Every reason is PostgreSQL's own, per hour, and each reject keeps its line's text."""

    def reasons(conn) -> Counter:
        rows = conn.execute(
            "SELECT partition_hour, reason, COUNT(*) FROM staging_rejects "
            "WHERE dataset = 'events' GROUP BY partition_hour, reason"
        ).fetchall()
        return Counter({(hour, reason): n for hour, reason, n in rows})

    pg, rs = reasons(staged["conn"]), reasons(redshift_staged["conn"])
    kinds = {reason.split(":", 1)[0] for _, reason in pg}
    assert {"not_json", "not_object", "missing_field", "bad_type"} <= kinds
    assert rs == pg
    (without_text,) = (
        redshift_staged["conn"]
        .execute("SELECT COUNT(*) FROM staging_rejects WHERE raw_text IS NULL")
        .fetchone()
    )
    assert without_text == 0


def test_a_line_cut_short_mid_object_is_one_rejected_line(redshift_staged) -> None:
    """Redshift's JSON COPY would read such a line on into the next; line by line, it is one."""
    hour = partitions.parse_key("2031-01-01T05:00:00")
    prefix = partitions.events_prefix("log_data", hour)
    source = redshift_staged["source"]
    # A session no generated event has: these three are staged, not duplicates.
    good = [
        f'{{"ts": 1924923600000, "sessionId": 987654, "itemInSession": {i}, "page": "Home"}}'
        for i in range(3)
    ]
    body = "\n".join([good[0], '{"artist":', good[1], "", "  ", good[2]]) + "\n"
    source.client.put_object(Bucket=source.bucket, Key=f"{prefix}cut.json", Body=body.encode())
    stats = redshift_staged["stage"](source.list(prefix), hour, prefix)
    assert (stats.read, stats.staged, stats.rejected, dict(stats.reasons)) == (
        4,
        3,
        1,
        {"not_json": 1},
    )
    (raw,) = (
        redshift_staged["conn"]
        .execute(
            "SELECT raw_text FROM staging_rejects WHERE partition_hour = %s",
            (hour.replace(tzinfo=None),),
        )
        .fetchone()
    )
    assert raw == '{"artist":'


def test_songs_account_as_on_postgres(staged, redshift_staged) -> None:
    assert accounting(redshift_staged["songs"]) == accounting(staged["songs"])
