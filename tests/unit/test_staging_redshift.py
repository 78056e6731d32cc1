"""Redshift staging with the warehouse and S3 replaced: what it COPYs, skips and records.

The connection answers the few queries staging reads (the ledger, what the judged lines
came to, drift, column widths, a partition's record); everything executed is kept, so each
test checks the statements that would reach Redshift and the manifest that would reach S3.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from sparkify.pipeline.settings import SettingsError
from sparkify.pipeline.staging.objects import S3Objects, SourceObject
from sparkify.pipeline.staging.redshift import stage_redshift
from tests.unit.test_operators import BUCKET, aws_settings

HOUR = datetime(2018, 11, 2, 13, tzinfo=UTC)
NAIVE_HOUR = datetime(2018, 11, 2, 13)
PREFIX = "log_data/2018/11/02/13/"
EVENTS_MANIFEST = "_manifests/events/2018/11/02/13.manifest"
A = SourceObject(f"{PREFIX}a.json", "e1", 10)
B = SourceObject(f"{PREFIX}b.json", "e2", 20)


class Warehouse:
    """A DB-API connection that records statements and answers staging's queries."""

    def __init__(
        self, *, ledger=(), partition=None, copied=0, rejected=0, missing=0, merged=0, coerced=0
    ) -> None:
        """``copied`` lines COPY loaded, ``rejected`` it refused, ``missing`` of the loaded
        ones check_lines rejects (a required value missing); ``merged`` rows go in."""
        self.ledger = list(ledger)  # (source_key, etag) rows
        self.partition = partition  # the staging_partitions row, or None
        self.lines = [(None, copied - missing, coerced)]
        if rejected:
            self.lines.append(("copy_error:line:Invalid UTF8", rejected, 0))
        if missing:
            self.lines.append(("missing_field:ts", missing, 0))
        self.merged = merged
        self.executed: list[tuple[str, Any]] = []
        self.committed = self.rolled_back = self.closed = False
        self.autocommit = True

    def get_conn(self) -> Warehouse:
        return self

    def cursor(self) -> Cursor:
        return Cursor(self)

    def commit(self) -> None:
        self.committed = True

    def rollback(self) -> None:
        self.rolled_back = True

    def close(self) -> None:
        self.closed = True

    def sql(self) -> list[str]:
        return [" ".join(s.split()) for s, _ in self.executed]

    def copies(self) -> list[str]:
        return [s for s in self.sql() if s.startswith("COPY ")]


class Cursor:
    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self.rows: list[tuple[Any, ...]] = []
        self.rowcount = -1

    def execute(self, sql: str, params: Any = None) -> None:
        self.wh.executed.append((sql, params))
        text = " ".join(sql.split())
        self.rows, self.rowcount = [], 0
        if text.startswith("SELECT source_key, etag FROM load_ledger"):
            self.rows = self.wh.ledger
        elif text.startswith("SELECT objects, rows_read"):
            self.rows = [self.wh.partition] if self.wh.partition else []
        elif text.startswith("SELECT reason, COUNT(*), SUM(coerced)"):
            self.rows = self.wh.lines
        elif text.startswith("SELECT SUM(CASE WHEN JSON_TYPEOF"):
            self.rows = [tuple(0 for _ in range(text.count("JSON_TYPEOF")))]
        elif text.startswith("SELECT column_name, character_maximum_length"):
            self.rows = [("auth", 32)]
        elif text.startswith(("INSERT INTO staging_events", "INSERT INTO staging_songs")):
            self.rowcount = self.wh.merged

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def stage(
    wh: Warehouse,
    objects: list[SourceObject],
    dataset: str = "events",
    prefix=PREFIX,
    settings=None,
    put_error: Exception | None = None,
):
    source = mock.MagicMock(spec=S3Objects)
    source.client = mock.MagicMock()
    source.client.put_object.side_effect = put_error
    settings = settings or aws_settings()
    stats = stage_redshift(wh, source, objects, HOUR, prefix, dataset=dataset, settings=settings)
    return stats, source


def partition_row(wh: Warehouse) -> dict[str, Any]:
    """The counts written to ``staging_partitions``, by their short names (``read``...)."""
    (params,) = [p for s, p in wh.executed if s.startswith("INSERT INTO staging_partitions")]
    return {k.removeprefix("rows_"): v for k, v in params.items()}


def test_an_empty_hour_stages_zero_rows_without_a_copy() -> None:
    wh = Warehouse()
    stats, source = stage(wh, [])
    assert wh.copies() == []
    source.client.put_object.assert_not_called()
    assert "DELETE FROM staging_events WHERE partition_hour = %(partition_hour)s" in wh.sql()
    row = partition_row(wh)
    assert (row["objects"], row["read"], row["staged"], row["rejected"]) == (0, 0, 0, 0)
    assert row["partition_hour"] == NAIVE_HOUR
    assert (stats.read, stats.staged, stats.objects) == (0, 0, 0)
    assert wh.committed
    assert wh.closed
    assert not wh.rolled_back


def test_the_copy_reads_a_manifest_of_exactly_the_objects_listed() -> None:
    wh = Warehouse(copied=5, rejected=1, merged=4)
    stats, source = stage(wh, [A, B])
    (put,) = source.client.put_object.call_args_list
    assert put.kwargs["Bucket"] == BUCKET
    assert put.kwargs["Key"] == EVENTS_MANIFEST
    assert json.loads(put.kwargs["Body"]) == {
        "entries": [
            {"url": f"s3://{BUCKET}/{A.key}", "mandatory": True},
            {"url": f"s3://{BUCKET}/{B.key}", "mandatory": True},
        ]
    }
    (copy,) = wh.copies()
    assert f"FROM 's3://{BUCKET}/{EVENTS_MANIFEST}'" in copy
    # Each line whole into load_lines, through the manifest: no JSON COPY.
    assert re.search(r"^COPY load_lines \(line\) FROM '[^']+' IAM_ROLE '[^']+' MANIFEST ", copy)
    assert "FORMAT AS JSON" not in copy
    assert f"'s3://{BUCKET}/{PREFIX}'" not in copy  # never the prefix itself
    assert (stats.read, stats.staged, stats.rejected, stats.duplicate) == (6, 4, 1, 1)
    assert stats.source_keys == [A.key, B.key]


def test_the_manifest_goes_where_manifest_prefix_says_and_copy_reads_it_there() -> None:
    settings = replace(aws_settings(), manifest_prefix="s3://sparkify-manifests/copy/")
    wh = Warehouse(copied=1, merged=1)
    _stats, source = stage(wh, [A], settings=settings.validate())
    (put,) = source.client.put_object.call_args_list
    assert (put.kwargs["Bucket"], put.kwargs["Key"]) == (
        "sparkify-manifests",
        "copy/events/2018/11/02/13.manifest",
    )
    # The objects it names are still the source bucket's.
    assert json.loads(put.kwargs["Body"])["entries"] == [
        {"url": f"s3://{BUCKET}/{A.key}", "mandatory": True}
    ]
    (copy,) = wh.copies()
    assert "FROM 's3://sparkify-manifests/copy/events/2018/11/02/13.manifest'" in copy


def test_a_manifest_bucket_that_does_not_exist_is_named() -> None:
    settings = replace(aws_settings(), manifest_prefix="s3://sparkify-gone/m/").validate()
    missing = ClientError({"Error": {"Code": "NoSuchBucket"}}, "PutObject")
    wh = Warehouse(copied=1)
    with pytest.raises(SettingsError, match=r"manifest bucket 'sparkify-gone'.*does not exist"):
        stage(wh, [A], settings=settings, put_error=missing)
    assert wh.rolled_back
    assert not wh.copies()


def test_the_ledger_is_replaced_per_partition_and_names_each_object() -> None:
    wh = Warehouse(copied=2, merged=2)
    stage(wh, [A, B])
    deletes = [
        p
        for s, p in wh.executed
        if s.startswith("DELETE FROM load_ledger") and "partition_hour" in s
    ]
    assert [(p["dataset"], p["partition_hour"]) for p in deletes] == [("events", NAIVE_HOUR)]
    (inserted,) = [p for s, p in wh.executed if s.startswith("INSERT INTO load_objects")]
    assert [
        (inserted[f"source_key_{i}"], inserted[f"etag_{i}"], inserted[f"size_bytes_{i}"])
        for i in range(2)
    ] == [(A.key, "e1", 10), (B.key, "e2", 20)]
    # Redshift's COPY cannot say what each object held: no per-object counts.
    assert inserted["rows_read_0"] is None
    merged = [s for s in wh.sql() if s.startswith("INSERT INTO load_ledger")]
    assert merged
    assert "FROM load_objects" in merged[0]


def test_unchanged_objects_are_not_copied_again() -> None:
    wh = Warehouse(ledger=[(A.key, "e1"), (B.key, "e2")], partition=(2, 6, 4, 1, 1, 0, "{}"))
    stats, source = stage(wh, [A, B])
    assert wh.copies() == []
    source.client.put_object.assert_not_called()
    assert not [s for s in wh.sql() if s.startswith(("DELETE", "INSERT"))]
    assert stats.unchanged
    assert (stats.objects, stats.read, stats.staged, stats.rejected) == (2, 6, 4, 1)


def test_a_changed_object_reloads_the_partition() -> None:
    wh = Warehouse(ledger=[(A.key, "e1"), (B.key, "old")], partition=(2, 6, 4, 1, 1, 0, "{}"))
    stats, _ = stage(wh, [A, B])
    assert len(wh.copies()) == 1
    assert not stats.unchanged


def test_a_removed_object_empties_the_hour_once_and_then_rests() -> None:
    # The hour held A; A is gone. It is staged as empty once ...
    wh = Warehouse(ledger=[(A.key, "e1")], partition=(1, 3, 3, 0, 0, 0, "{}"))
    stage(wh, [])
    assert wh.copies() == []
    assert partition_row(wh)["read"] == 0
    # ... and afterwards the ledger (now empty for the hour) matches: nothing reloads.
    wh = Warehouse(ledger=[], partition=(0, 0, 0, 0, 0, 0, "{}"))
    stats, _ = stage(wh, [])
    assert stats.unchanged
    assert not [s for s in wh.sql() if s.startswith(("DELETE", "INSERT"))]


def test_songs_without_new_files_record_an_empty_partition_without_a_copy() -> None:
    wh = Warehouse()
    stats, source = stage(wh, [], dataset="songs", prefix="song_data/")
    assert wh.copies() == []
    source.client.put_object.assert_not_called()
    assert partition_row(wh)["objects"] == 0
    assert stats.read == 0


def test_songs_already_loaded_keep_the_partitions_counts() -> None:
    song = SourceObject("song_data/A/B/C/TRAAA.json", "s1", 10)
    wh = Warehouse(ledger=[(song.key, "s1")], partition=(1, 1, 1, 0, 0, 0, "{}"))
    stats, _ = stage(wh, [song], dataset="songs", prefix="song_data/")
    assert wh.copies() == []
    assert not [s for s in wh.sql() if s.startswith("INSERT")]
    assert (stats.objects, stats.read, stats.staged) == (1, 1, 1)


def test_new_songs_are_copied_through_their_manifest() -> None:
    old = SourceObject("song_data/A/B/C/TRAAA.json", "s1", 10)
    new = SourceObject("song_data/A/B/C/TRBBB.json", "s2", 10)
    wh = Warehouse(ledger=[(old.key, "s1")], copied=1, merged=1)
    stats, source = stage(wh, [old, new], dataset="songs", prefix="song_data/")
    body = json.loads(source.client.put_object.call_args.kwargs["Body"])
    assert body["entries"] == [{"url": f"s3://{BUCKET}/{new.key}", "mandatory": True}]
    (copy,) = wh.copies()
    assert copy.startswith("COPY load_lines (line) FROM")
    assert " MANIFEST " in copy
    assert (stats.objects, stats.read, stats.staged) == (1, 1, 1)


def test_a_failure_rolls_everything_back() -> None:
    wh = Warehouse(copied=1)
    with (
        mock.patch.object(Cursor, "fetchone", side_effect=RuntimeError("COPY failed")),
        pytest.raises(RuntimeError),
    ):
        stage(wh, [A])
    assert wh.rolled_back
    assert not wh.committed
    assert wh.closed


def test_only_json_objects_are_listed_for_the_manifest() -> None:
    client = mock.MagicMock()
    client.get_paginator.return_value.paginate.return_value = [
        {
            "Contents": [
                {"Key": A.key, "ETag": '"e1"', "Size": 10},
                {"Key": f"{PREFIX}_SUCCESS", "ETag": '"x"', "Size": 0},
                {"Key": f"{PREFIX}notes.txt", "ETag": '"y"', "Size": 3},
            ]
        }
    ]
    assert S3Objects(client, BUCKET).list(PREFIX) == [A]


def test_rows_without_a_required_value_are_rejected_not_counted_as_duplicates() -> None:
    # COPY read 8 lines: it refused 1 and loaded 7, of which 2 lack a required value and
    # 1 repeats another event: 4 are staged.
    wh = Warehouse(copied=7, rejected=1, missing=2, merged=4, coerced=3)
    stats, _ = stage(wh, [A])
    assert (stats.read, stats.staged, stats.rejected, stats.duplicate) == (8, 4, 3, 1)
    assert stats.read == stats.staged + stats.rejected + stats.duplicate
    assert stats.coerced == 3
    assert dict(stats.reasons) == {"copy_error:line:Invalid UTF8": 1, "missing_field:ts": 2}
    order = [" ".join(s.split()) for s, _ in wh.executed]
    judged = next(i for i, s in enumerate(order) if s.startswith("CREATE TEMP TABLE checked_lines"))
    assert "missing_field:ts" in order[judged]
    (params,) = [p for s, p in wh.executed if s.startswith("INSERT INTO staging_rejects")]
    assert params["partition_hour"] == NAIVE_HOUR
    assert params["source_key"] == PREFIX
    # Judged before the merge, which takes only the lines that passed; text is cut to width.
    passed = next(i for i, s in enumerate(order) if s.startswith("INSERT INTO load_events"))
    merge = next(i for i, s in enumerate(order) if s.startswith("INSERT INTO staging_events"))
    assert judged < passed < merge
    assert 'THEN LEFT("auth", 32)' in order[passed]
    assert order[passed].endswith("FROM checked_lines WHERE reason IS NULL")
    row = partition_row(wh)
    assert (row["read"], row["rejected"], row["duplicate"], row["coerced"]) == (8, 3, 1, 3)


def test_songs_without_id_or_duration_are_rejected() -> None:
    song = SourceObject("song_data/A/B/C/TRAAA.json", "s1", 10)
    wh = Warehouse(copied=2, missing=1, merged=1)
    stats, _ = stage(wh, [song, SourceObject("song_data/x.json", "s2", 5)], dataset="songs")
    assert (stats.read, stats.staged, stats.rejected, stats.duplicate) == (2, 1, 1, 0)
    (sql,) = [s for s, _ in wh.executed if s.startswith("CREATE TEMP TABLE checked_lines")]
    assert "missing_field:song_id" in sql
    assert "missing_field:duration" in sql
    assert any(s.startswith("INSERT INTO load_songs") for s, _ in wh.executed)


def test_every_staging_transaction_first_queues_on_the_staging_lock() -> None:
    for dataset, objects in (("events", [A]), ("events", []), ("songs", [])):
        wh = Warehouse(copied=1, merged=1)
        stage(wh, objects, dataset=dataset)
        assert wh.sql()[0] == "LOCK lock_staging", dataset
        assert not any("pg_advisory" in s for s in wh.sql())


class SerializationFailure(Exception):
    """What redshift_connector raises for Redshift's error 1023 (its args: the fields)."""


REDSHIFT_1023 = {
    "S": "ERROR",
    "C": "XX000",
    "M": "1023",
    "D": "Serializable isolation violation on table - 119371, transactions forming the "
    "cycle are: 1745830, 1745762 (pid:15021)",
}


def test_a_serialization_failure_runs_the_whole_transaction_again() -> None:
    wh = Warehouse(copied=2, merged=2)
    real_execute = Cursor.execute
    failures = []

    def execute(self, sql, params=None):
        if sql.startswith("INSERT INTO staging_events") and not failures:
            failures.append(sql)
            raise SerializationFailure(REDSHIFT_1023)
        return real_execute(self, sql, params)

    with (
        mock.patch.object(Cursor, "execute", execute),
        mock.patch("sparkify.pipeline.serialization.delay", return_value=0),
    ):
        stats, _source = stage(wh, [A])
    assert failures, "the failure was raised"
    assert wh.rolled_back
    assert wh.committed
    # The second attempt started again from the lock and copied again.
    assert wh.sql().count("LOCK lock_staging") == 2
    assert len(wh.copies()) == 2
    assert (stats.read, stats.staged) == (2, 2)


def test_other_errors_are_not_retried() -> None:
    wh = Warehouse(copied=2, merged=2)
    with (
        mock.patch.object(Cursor, "fetchone", side_effect=SerializationFailure({"M": "1216"})),
        pytest.raises(SerializationFailure),
    ):
        stage(wh, [A])
    assert wh.sql().count("LOCK lock_staging") == 1


@pytest.mark.parametrize(
    ("extra", "table"),
    [({}, "stl_load_errors"), ({"is_serverless": True}, "sys_load_error_detail")],
)
def test_copy_refusals_are_read_from_the_warehouses_error_table(extra, table) -> None:
    wh = Warehouse(copied=2, rejected=1, merged=2)
    wh.connection = mock.Mock(extra_dejson=extra)
    stage(wh, [A])
    (sql, params) = next(
        (s, p) for s, p in wh.executed if s.startswith("CREATE TEMP TABLE load_refusals")
    )
    assert f"FROM {table}" in sql
    other = {"stl_load_errors", "sys_load_error_detail"} - {table}
    assert other.pop() not in sql
    # The error tables name files by URL; the key starts right after s3://bucket/.
    assert params["key_starts_at"] == len(f"s3://{BUCKET}/") + 1
    (insert,) = [s for s, _ in wh.executed if s.startswith("INSERT INTO staging_rejects")]
    assert "FROM load_refusals" in insert
    assert "FROM checked_lines" in insert


def test_a_later_run_of_a_song_hour_adds_to_what_the_hour_loaded_before() -> None:
    # The hour loaded one song file before; this run finds one new file.
    old = SourceObject("song_data/A/B/C/TRAAA.json", "s1", 10)
    new = SourceObject("song_data/A/B/C/TRBBB.json", "s2", 10)
    wh = Warehouse(ledger=[(old.key, "s1")], partition=(1, 1, 1, 0, 0, 0, "{}"), copied=1, merged=1)
    stats, _ = stage(wh, [old, new], dataset="songs", prefix="song_data/")
    assert (stats.objects, stats.read, stats.staged) == (1, 1, 1)  # this run's own
    row = partition_row(wh)
    assert (row["objects"], row["read"], row["staged"]) == (2, 2, 2)  # the hour's, as on PG
