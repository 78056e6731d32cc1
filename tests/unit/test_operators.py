"""The operators with their hooks replaced: what they render, bind, dispatch and decide.

Hooks are patched where the operators look them up at run time (``get_db_hook``,
``sparkify.pipeline.warehouse.hook``, the amazon provider's ``S3Hook``); a hook's ``conn_type`` is
taken from the real provider class, so the dialect mapping is checked against it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from unittest import mock
from urllib.parse import quote

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.amazon.aws.hooks.redshift_sql import RedshiftSQLHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.sdk.exceptions import AirflowFailException

from sparkify.pipeline import settings as settings_module
from sparkify.pipeline.operators.reconcile import (
    HOUR_COLUMNS,
    ReconcilePartitionOperator,
    evaluate,
    window_numbers,
)
from sparkify.pipeline.operators.sensors import HourPrefixSensor
from sparkify.pipeline.operators.sql_file import SqlFileOperator
from sparkify.pipeline.operators.stage import StageJsonOperator
from sparkify.pipeline.partitions import PartitionKeyError
from sparkify.pipeline.sql import render, statements
from sparkify.pipeline.staging.objects import S3Objects, SourceObject
from sparkify.pipeline.staging.stats import StageStats

DAGS = Path(__file__).resolve().parents[2] / "dags"
KEY = "2018-11-02T13:00:00"
HOUR = datetime(2018, 11, 2, 13, tzinfo=UTC)
NAIVE_HOUR = datetime(2018, 11, 2, 13)
# What SqlFileOperator binds for the one-hour key KEY: its window, and its first hour.
WINDOW_PARAMS = {
    "window_start": NAIVE_HOUR,
    "window_end": NAIVE_HOUR + timedelta(hours=1),
    "partition_hour": NAIVE_HOUR,
}
DAY_KEY = "2018-11-02T00:00:00/2018-11-03T00:00:00"


def key(hours: int) -> str:
    """The partition key ``hours`` from ``KEY``."""
    return (NAIVE_HOUR + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S")


BUCKET = "sparkify-unit"
ROLE = "arn:aws:iam::123456789012:role/sparkify-unit"
HOOKS = {"postgres": PostgresHook, "redshift": RedshiftSQLHook}


def squash(sql: str) -> str:
    """SQL with its layout normalised: whitespace runs made one space, none inside parens."""
    text = " ".join(sql.split())
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", text))


def context(key: str | None = KEY, **extra) -> dict:
    """The part of a task's context these operators read."""
    return {"dag_run": SimpleNamespace(partition_key=key), **extra}


def db_hook(dialect: str) -> mock.MagicMock:
    hook_class = HOOKS[dialect]
    hook = mock.MagicMock(spec=hook_class)
    hook.conn_type = hook_class.conn_type
    return hook


def local_settings(**environ: str) -> settings_module.Settings:
    return settings_module.load("local", environ={"SPARKIFY_BUCKET": BUCKET, **environ})


def aws_settings() -> settings_module.Settings:
    return settings_module.load(
        "aws",
        environ={
            "SPARKIFY_BUCKET": BUCKET,
            "SPARKIFY_IAM_ROLE": ROLE,
            "SPARKIFY_REGION": "us-west-2",
        },
    )


@pytest.fixture
def fresh_dags() -> dict:
    """The DAGs parsed afresh: rendering templates changes a task in place."""
    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


# -- SqlFileOperator ----------------------------------------------------------------------


def run_sql_file(operator: SqlFileOperator, dialect: str, ctx: dict | None = None):
    hook = db_hook(dialect)
    with mock.patch.object(SqlFileOperator, "get_db_hook", return_value=hook):
        operator.execute(ctx if ctx is not None else context())
    return hook


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
@pytest.mark.parametrize("mode", ["upsert", "truncate_insert", "append"])
def test_sql_file_renders_for_the_hooks_dialect_and_binds_the_hour(dialect, mode) -> None:
    operator = SqlFileOperator(task_id="load_users", sql_file="load/load_users", mode=mode)
    hook = run_sql_file(operator, dialect)

    hook.run.assert_called_once()
    kwargs = hook.run.call_args.kwargs
    expected = statements(render("load/load_users", dialect, mode=mode))
    assert [squash(s) for s in kwargs["sql"]] == [squash(s) for s in expected]
    assert kwargs["parameters"] == WINDOW_PARAMS
    # One transaction: the statements go to the hook as one list, not autocommitted.
    assert kwargs["autocommit"] is False
    assert kwargs["split_statements"] is False
    # Redshift: the model runs queue on lock_model, never on a table that readers read.
    lock = "LOCK lock_model" if dialect == "redshift" else 'LOCK TABLE "users"'
    assert squash(kwargs["sql"][0]).startswith(lock)
    if dialect == "redshift":
        assert not any(s.startswith('LOCK "') for s in kwargs["sql"])


@pytest.mark.parametrize(("dialect", "marker"), [("redshift", "DISTSTYLE"), ("postgres", "INDEX")])
def test_sql_file_picks_the_dialect_variant(dialect, marker) -> None:
    operator = SqlFileOperator(
        task_id="create_tables", sql_file="schema/create_tables", partitioned=False
    )
    hook = run_sql_file(operator, dialect, context(key=None))
    sql = " ".join(hook.run.call_args.kwargs["sql"])
    assert marker in sql
    other = "INDEX" if marker == "DISTSTYLE" else "DISTSTYLE"
    assert other not in sql
    # Not partitioned: no key needed, nothing bound.
    assert not hook.run.call_args.kwargs["parameters"]


def test_sql_file_needs_a_partition_key() -> None:
    operator = SqlFileOperator(task_id="load_songplays", sql_file="load/load_songplays")
    for key in (None, "2018-11-02T13:30:00", f"{KEY}'; DROP TABLE songplays; --"):
        hook = db_hook("postgres")
        with (
            mock.patch.object(SqlFileOperator, "get_db_hook", return_value=hook),
            pytest.raises(PartitionKeyError),
        ):
            operator.execute(context(key))
        hook.run.assert_not_called()


def test_sql_file_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        SqlFileOperator(task_id="load_users", sql_file="load/load_users", mode="merge")


def test_model_renders_the_mode_param_into_the_load(fresh_dags) -> None:
    task = fresh_dags["model"].get_task("load_star_schema")
    ctx = context(params={"dimension_mode": "truncate_insert"})
    task.render_template_fields(ctx)
    assert task.mode == "truncate_insert"
    hook = run_sql_file(task, "postgres", ctx)
    sql = [squash(s) for s in hook.run.call_args.kwargs["sql"]]
    for table in ("users", "songs", "artists", "time"):
        assert f'DELETE FROM "{table}"' in sql, table
    # The facts are replaced per window whatever the dimension mode.
    assert (
        "DELETE FROM songplays "
        "WHERE partition_hour >= %(window_start)s AND partition_hour < %(window_end)s" in sql
    )


def test_several_sql_files_run_in_order_in_one_transaction() -> None:
    files = ["load/load_songs", "load/load_songplays", "load/load_users"]
    operator = SqlFileOperator(task_id="load", sql_file=files, mode="upsert")
    hook = run_sql_file(operator, "postgres")
    hook.run.assert_called_once()
    kwargs = hook.run.call_args.kwargs
    expected = [s for f in files for s in statements(render(f, "postgres", mode="upsert"))]
    assert [squash(s) for s in kwargs["sql"]] == [squash(s) for s in expected]
    assert kwargs["autocommit"] is False
    locks = [s for s in map(squash, kwargs["sql"]) if s.startswith("LOCK TABLE")]
    # songs locks twice (before reading which songs arrive, then in the load itself): the
    # same lock in one transaction, so the order across tables is unchanged.
    assert locks == [
        f'LOCK TABLE "{t}" IN SHARE ROW EXCLUSIVE MODE'
        for t in ("songs", "songs", "songplays", "users")
    ]


def test_sql_file_binds_a_windows_bounds() -> None:
    operator = SqlFileOperator(task_id="load_users", sql_file="load/load_users", mode="upsert")
    hook = run_sql_file(operator, "postgres", context(DAY_KEY))
    assert hook.run.call_args.kwargs["parameters"] == {
        "window_start": datetime(2018, 11, 2),
        "window_end": datetime(2018, 11, 3),
        "partition_hour": datetime(2018, 11, 2),
    }


def test_an_unknown_mode_from_params_is_refused_at_run_time(fresh_dags) -> None:
    task = fresh_dags["model"].get_task("load_star_schema")
    ctx = context(params={"dimension_mode": "drop_everything"})
    task.render_template_fields(ctx)
    hook = db_hook("postgres")
    with (
        mock.patch.object(SqlFileOperator, "get_db_hook", return_value=hook),
        pytest.raises(ValueError, match="load mode"),
    ):
        task.execute(ctx)
    hook.run.assert_not_called()


# -- StageJsonOperator --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "table", "message"),
    [
        ("jsonl", "staging_songs", "stages into staging_events"),
        ("json_object", "staging_events", "stages into staging_songs"),
        ("csv", "staging_events", "format must be one of"),
        ("jsonl", "songplays", "stages into staging_events"),
    ],
)
def test_stage_refuses_a_wrong_format_table_pair(fmt, table, message) -> None:
    with pytest.raises(ValueError, match=message):
        StageJsonOperator(task_id="stage", table=table, format=fmt)


LISTED = [
    {"Key": "log_data/2018/11/02/13/b.json", "ETag": '"e2"', "Size": 20},
    {"Key": "log_data/2018/11/02/13/a.json", "ETag": '"e1"', "Size": 10},
    {"Key": "log_data/2018/11/02/13/_SUCCESS", "ETag": '"e3"', "Size": 0},
]


def s3_hook_class(listed=LISTED) -> mock.MagicMock:
    """A stand-in for ``S3Hook`` whose client lists ``listed``."""
    client = mock.MagicMock()
    client.get_paginator.return_value.paginate.return_value = [{"Contents": listed}]
    hook_class = mock.MagicMock(spec=S3Hook)
    hook_class.return_value.get_conn.return_value = client
    hook_class.return_value.get_client_type.return_value = client
    return hook_class


def run_stage(operator, dialect: str, settings, stats: StageStats):
    """Execute ``operator`` with every hook and both stagers patched; returns the mocks."""
    hook = db_hook(dialect)
    outlet_events: dict = defaultdict(SimpleNamespace)
    with (
        mock.patch("sparkify.pipeline.warehouse.hook", return_value=hook) as warehouse_hook,
        mock.patch("airflow.providers.amazon.aws.hooks.s3.S3Hook", s3_hook_class()) as s3,
        mock.patch.object(settings_module, "current", return_value=settings),
        mock.patch(
            "sparkify.pipeline.staging.redshift.stage_redshift", return_value=stats
        ) as redshift,
        mock.patch(
            "sparkify.pipeline.staging.postgres.stage_events", return_value=stats
        ) as pg_events,
        mock.patch(
            "sparkify.pipeline.staging.postgres.stage_songs", return_value=stats
        ) as pg_songs,
    ):
        result = operator.execute(context(outlet_events=outlet_events))
    return SimpleNamespace(
        hook=hook,
        warehouse_hook=warehouse_hook,
        s3=s3,
        redshift=redshift,
        pg_events=pg_events,
        pg_songs=pg_songs,
        result=result,
        outlet_events=outlet_events,
    )


def stage_events_operator(**kwargs) -> StageJsonOperator:
    from sparkify.pipeline.assets import staged_events

    return StageJsonOperator(
        task_id="stage_events",
        table="staging_events",
        format="jsonl",
        outlets=[staged_events],
        **kwargs,
    )


def test_stage_dispatches_to_redshift_copy_for_a_redshift_hook() -> None:
    settings = aws_settings()
    stats = StageStats("events", KEY, objects=2, read=5, staged=4, rejected=1)
    done = run_stage(stage_events_operator(), "redshift", settings, stats)

    done.pg_events.assert_not_called()
    done.redshift.assert_called_once()
    args, kwargs = done.redshift.call_args
    hook, source, objects, hour, prefix = args
    assert hook is done.hook
    assert isinstance(source, S3Objects)
    assert source.bucket == BUCKET
    assert objects == [
        SourceObject("log_data/2018/11/02/13/a.json", "e1", 10),
        SourceObject("log_data/2018/11/02/13/b.json", "e2", 20),
    ]
    assert hour == HOUR
    assert prefix == "log_data/2018/11/02/13/"
    assert kwargs == {"dataset": "events", "settings": settings}
    done.warehouse_hook.assert_called_once_with("warehouse")
    done.s3.assert_called_once_with(aws_conn_id="aws_default")
    assert done.result == stats.as_extra()
    (event,) = done.outlet_events.values()
    assert event.extra == stats.as_extra()
    assert event.extra["rows_read"] == 5


def test_stage_songs_dispatches_to_redshift_with_the_songs_dataset() -> None:
    from sparkify.pipeline.assets import staged_songs

    operator = StageJsonOperator(
        task_id="stage_songs",
        table="staging_songs",
        format="json_object",
        outlets=[staged_songs],
    )
    done = run_stage(operator, "redshift", aws_settings(), StageStats("songs", KEY))
    done.pg_songs.assert_not_called()
    assert done.redshift.call_args.kwargs["dataset"] == "songs"
    assert done.redshift.call_args.args[4] == "song_data/"


def test_stage_streams_into_postgres_for_a_postgres_hook() -> None:
    settings = local_settings(SPARKIFY_REJECT_TEXT_LIMIT="123")
    stats = StageStats("events", KEY, objects=2, read=5, staged=5)
    done = run_stage(stage_events_operator(), "postgres", settings, stats)

    done.redshift.assert_not_called()
    done.pg_songs.assert_not_called()
    done.pg_events.assert_called_once()
    args, kwargs = done.pg_events.call_args
    conn, source, objects, hour = args
    assert conn is done.hook.get_conn.return_value
    assert source.bucket == BUCKET
    assert [o.key for o in objects] == [
        "log_data/2018/11/02/13/a.json",
        "log_data/2018/11/02/13/b.json",
    ]
    assert hour == HOUR
    assert kwargs["limits"].reject_text_limit == 123
    assert kwargs["limits"].max_line_bytes == 65535
    conn.close.assert_called_once()


def test_stage_uses_the_operators_bucket_over_the_settings() -> None:
    done = run_stage(
        stage_events_operator(bucket="other-bucket"),
        "postgres",
        local_settings(),
        StageStats("events", KEY),
    )
    source = done.pg_events.call_args.args[1]
    assert source.bucket == "other-bucket"


def test_stage_needs_a_valid_partition_key() -> None:
    operator = stage_events_operator()
    with (
        mock.patch("sparkify.pipeline.warehouse.hook", return_value=db_hook("postgres")),
        mock.patch("airflow.providers.amazon.aws.hooks.s3.S3Hook", s3_hook_class()),
        mock.patch.object(settings_module, "current", return_value=local_settings()),
        mock.patch("sparkify.pipeline.staging.postgres.stage_events") as pg_events,
        pytest.raises(PartitionKeyError),
    ):
        operator.execute(context("2018-11-02", outlet_events=defaultdict(SimpleNamespace)))
    pg_events.assert_not_called()


# -- HourPrefixSensor ---------------------------------------------------------------------


def poke(sensor: HourPrefixSensor, *, now: datetime, listed=(), grace_minutes="10"):
    hook = mock.MagicMock(spec=S3Hook)
    hook.get_s3_bucket_key.side_effect = S3Hook.get_s3_bucket_key
    hook.iter_file_metadata.return_value = list(listed)
    settings = local_settings(SPARKIFY_GRACE_MINUTES=grace_minutes)
    with (
        mock.patch.object(HourPrefixSensor, "hook", hook),
        mock.patch.object(settings_module, "current", return_value=settings),
        mock.patch("sparkify.pipeline.operators.sensors.now", return_value=now),
    ):
        result = sensor.poke(context())
    return result, hook


def sensor(**kwargs) -> HourPrefixSensor:
    return HourPrefixSensor(task_id="wait_for_events", **kwargs)


def test_sensor_succeeds_for_an_empty_past_hour_after_its_grace() -> None:
    done, hook = poke(sensor(), now=HOUR + timedelta(hours=1, minutes=11))
    assert done is True
    hook.iter_file_metadata.assert_called_once_with("log_data/2018/11/02/13/", BUCKET)


def test_sensor_waits_for_a_current_hour_with_no_objects() -> None:
    done, _ = poke(sensor(), now=HOUR + timedelta(minutes=30))
    assert done is False


def test_sensor_waits_through_the_grace_period() -> None:
    done, _ = poke(sensor(), now=HOUR + timedelta(hours=1, minutes=9))
    assert done is False
    # An explicit grace overrides the settings' one.
    done, _ = poke(sensor(grace=timedelta(minutes=5)), now=HOUR + timedelta(hours=1, minutes=9))
    assert done is True


def test_sensor_succeeds_as_soon_as_an_object_lands() -> None:
    listed = [{"Key": "log_data/2018/11/02/13/2018-11-02-events.json", "Size": 10}]
    done, _ = poke(sensor(), now=HOUR + timedelta(minutes=5), listed=listed)
    assert done is True


def test_sensor_ignores_objects_of_another_hour() -> None:
    listed = [{"Key": "log_data/2018/11/02/14/2018-11-02-events.json", "Size": 10}]
    done, _ = poke(sensor(), now=HOUR + timedelta(minutes=5), listed=listed)
    assert done is False


def test_sensor_reschedules_rather_than_holding_a_slot() -> None:
    assert sensor().mode == "reschedule"


# -- templates ----------------------------------------------------------------------------


def test_quality_partition_clause_renders_the_hour_literal(fresh_dags) -> None:
    dag = fresh_dags["quality"]
    task = dag.get_task("check_songplays_columns")
    task.render_template_fields(context())
    assert task.partition_clause == (
        "partition_hour >= TIMESTAMP '2018-11-02 13:00:00' "
        "AND partition_hour < TIMESTAMP '2018-11-02 14:00:00'"
    )

    counts = dag.get_task("check_songplays_table")
    counts.render_template_fields(context())
    sql = squash(counts.sql)
    assert "{{" not in sql
    assert (
        "WHERE p.partition_hour >= TIMESTAMP '2018-11-02 13:00:00' "
        "AND p.partition_hour < TIMESTAMP '2018-11-02 14:00:00'" in sql
    )
    assert (
        "start_time >= TIMESTAMP '2018-11-02 13:00:00' "
        "AND start_time < TIMESTAMP '2018-11-02 14:00:00'" in sql
    )


@pytest.mark.parametrize(
    "key",
    [
        f"{KEY}'; DROP TABLE songplays; --",
        "2018-11-02T13:00:00' OR '1'='1",
        "2018-11-02 13:00:00",
        "2018-11-02T13:30:00",
    ],
)
@pytest.mark.parametrize("task_id", ["check_songplays_columns", "check_time_columns"])
def test_quality_refuses_a_malicious_partition_key(fresh_dags, key, task_id) -> None:
    task = fresh_dags["quality"].get_task(task_id)
    with pytest.raises(PartitionKeyError):
        task.render_template_fields(context(key))
    assert "DROP" not in str(task.partition_clause)


def test_stage_prefixes_come_from_the_settings() -> None:
    """Each data set's prefix, as a strftime pattern of the hour, from the settings alone."""
    from sparkify.pipeline.operators.stage import source_pattern

    assert source_pattern("jsonl", local_settings()) == "log_data/%Y/%m/%d/%H/"
    assert source_pattern("json_object", local_settings()) == "song_data/"
    moved = local_settings(SPARKIFY_EVENTS_PREFIX="raw/events/", SPARKIFY_SONGS_PREFIX="/raw/s")
    assert source_pattern("jsonl", moved) == "raw/events/%Y/%m/%d/%H/"
    assert source_pattern("json_object", moved) == "raw/s/"


# -- reconciliation -----------------------------------------------------------------------


def numbers(**changes) -> dict:
    good = {
        "rows_read": 100,
        "rows_staged": 95,
        "rows_rejected": 1,
        "rows_duplicate": 4,
        "drift": json.dumps({"unmapped": {}, "absent": {}}),
        "nextsong_staged": 80,
        "plays": 80,
        "plays_matched": 20,
        "staged_runs": 1,
        "newest_with_events": NAIVE_HOUR,
        "first_hour": NAIVE_HOUR - timedelta(days=3),
    }
    return {**good, **changes}


def outcomes(**changes) -> dict[str, tuple[str, bool]]:
    reasons = [("not_json", 1)]
    checks = evaluate(numbers(**changes), 0.01, reasons, hour=NAIVE_HOUR, max_age_hours=24)
    return {name: (value, ok) for name, value, ok in checks}


def failed(**changes) -> set[str]:
    return {name for name, (_, ok) in outcomes(**changes).items() if not ok}


def test_evaluate_passes_a_partition_that_reconciles() -> None:
    result = outcomes()
    assert set(result) == {
        "events_staged",
        "lines_reconcile",
        "plays_equal_nextsong_staged",
        "reject_rate",
        "schema_drift",
        "freshness",
        "plays_matched_share",
    }
    assert all(ok for _, ok in result.values())
    assert result["lines_reconcile"][0] == "read 100 = staged+rejected+duplicate 100"
    assert result["reject_rate"][0] == "0.0100 (max 0.01); commonest: not_json (1)"
    assert result["plays_matched_share"][0] == "0.2500"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"rows_staged": 94}, {"lines_reconcile"}),
        ({"rows_read": 101}, {"lines_reconcile"}),
        ({"plays": 79}, {"plays_equal_nextsong_staged"}),
        ({"rows_rejected": 2, "rows_staged": 94}, {"reject_rate"}),
        ({"staged_runs": 0}, {"events_staged"}),
        ({"staged_runs": 2}, {"events_staged"}),
        ({"newest_with_events": NAIVE_HOUR - timedelta(hours=25)}, {"freshness"}),
    ],
)
def test_evaluate_fails_what_does_not_reconcile(changes, expected) -> None:
    assert failed(**changes) == expected


def test_evaluate_an_empty_partition_passes() -> None:
    zero = dict.fromkeys(("rows_read", "rows_staged", "rows_rejected", "rows_duplicate"), 0)
    zero |= {"nextsong_staged": 0, "plays": 0, "plays_matched": 0, "drift": None}
    result = outcomes(**zero)
    assert all(ok for _, ok in result.values())
    assert result["plays_matched_share"][0] == "no plays"
    assert result["reject_rate"][0].startswith("0.0000")


def test_freshness_measures_hours_since_the_newest_hour_with_events() -> None:
    at_limit = outcomes(newest_with_events=NAIVE_HOUR - timedelta(hours=24))["freshness"]
    assert at_limit == (f"newest hour with events {key(-24)}, 24 h before (max 24 h)", True)
    stale = outcomes(newest_with_events=NAIVE_HOUR - timedelta(hours=25))["freshness"]
    assert stale == (f"newest hour with events {key(-25)}, 25 h before (max 24 h)", False)


def test_freshness_without_any_events_counts_from_the_first_hour_staged() -> None:
    young = outcomes(newest_with_events=None, first_hour=NAIVE_HOUR - timedelta(hours=5))
    assert young["freshness"] == (f"first hour staged {key(-5)}, 5 h before (max 24 h)", True)
    old = outcomes(newest_with_events=None, first_hour=NAIVE_HOUR - timedelta(hours=30))
    assert old["freshness"][1] is False


def test_evaluate_reports_drift_without_failing() -> None:
    drift = json.dumps({"unmapped": {"sessionLength": 3}, "absent": {}})
    value, ok = outcomes(drift=drift)["schema_drift"]
    assert ok
    assert json.loads(value) == {"unmapped": {"sessionLength": 3}}


def hour_row(hour=NAIVE_HOUR, **changes) -> tuple:
    """One row of checks/reconcile_partition: an hour's recorded and counted numbers."""
    n = numbers(**changes)
    return (hour, *(n[c] for c in HOUR_COLUMNS[1:]))


FRESH = (NAIVE_HOUR, NAIVE_HOUR - timedelta(days=3))


def test_reconcile_operator_records_every_outcome_and_names_the_failure() -> None:
    hook = db_hook("postgres")
    hook.get_records.side_effect = [[hour_row(rows_staged=90)], [FRESH], [("not_json", 1)]]
    operator = ReconcilePartitionOperator(task_id="reconcile_partition", max_reject_rate=0.01)
    with (
        mock.patch("sparkify.pipeline.warehouse.hook", return_value=hook),
        mock.patch("sparkify.pipeline.operators.checks.record_results") as record,
        pytest.raises(AirflowFailException, match="lines_reconcile: read 100") as raised,
    ):
        operator.execute(context())
    assert KEY in str(raised.value)
    for call in hook.get_records.call_args_list:
        assert call.kwargs["parameters"] == WINDOW_PARAMS
    (recorded_hook, rows), _ = record.call_args
    assert recorded_hook is hook
    assert len(rows) == 7
    assert {r["partition_hour"] for r in rows} == {NAIVE_HOUR}
    assert [r["check_name"] for r in rows if not r["passed"]] == ["lines_reconcile"]


def window_outcomes(rows, expected_hours) -> dict[str, tuple[str, bool]]:
    numbers_ = window_numbers(rows, expected_hours, FRESH)
    checks = evaluate(numbers_, 0.05, [], hour=NAIVE_HOUR, max_age_hours=24)
    return {name: (value, ok) for name, value, ok in checks}


def test_a_window_reconciles_hour_by_hour() -> None:
    later = NAIVE_HOUR + timedelta(hours=1)
    good = window_outcomes([hour_row(), hour_row(later)], 2)
    assert all(ok for _, ok in good.values()), good
    assert good["lines_reconcile"][0] == "read 200 = staged+rejected+duplicate 200"
    assert good["events_staged"][0] == "2 run(s) for 2 hour(s)"

    # One hour holds a row too many and the next one too few: the totals agree, the
    # hours do not, and the check names them.
    swapped = window_outcomes([hour_row(rows_staged=96), hour_row(later, rows_staged=94)], 2)
    value, ok = swapped["lines_reconcile"]
    assert not ok
    assert value.startswith("read 200 = staged+rejected+duplicate 200; off in ")
    assert "2018-11-02T13:00:00 (read vs accounted 100 vs 101)" in value
    assert "2018-11-02T14:00:00 (read vs accounted 100 vs 99)" in value


def test_a_window_with_an_hour_never_staged_fails() -> None:
    result = window_outcomes([hour_row()], 24)
    assert result["events_staged"] == ("1 run(s) for 24 hour(s)", False)


def test_a_window_names_at_most_five_hours() -> None:
    rows = [hour_row(NAIVE_HOUR + timedelta(hours=n), plays=79) for n in range(8)]
    value, ok = window_outcomes(rows, 8)["plays_equal_nextsong_staged"]
    assert not ok
    assert value.endswith("and 3 more")


def test_reconcile_operator_judges_a_window_and_records_which() -> None:
    hook = db_hook("postgres")
    rows = [hour_row(datetime(2018, 11, 2, h)) for h in range(24)]
    hook.get_records.side_effect = [rows, [FRESH], []]
    operator = ReconcilePartitionOperator(task_id="reconcile_partition", max_reject_rate=0.05)
    with (
        mock.patch("sparkify.pipeline.warehouse.hook", return_value=hook),
        mock.patch("sparkify.pipeline.operators.checks.record_results") as record,
    ):
        operator.execute(context(DAY_KEY))
    (_, recorded), _ = record.call_args
    assert {(r["partition_hour"], r["window_end"], r["partition_key"]) for r in recorded} == {
        (datetime(2018, 11, 2), datetime(2018, 11, 3), DAY_KEY)
    }
    assert all(r["passed"] for r in recorded)


def test_the_staging_client_has_a_connection_for_each_fetching_thread(monkeypatch) -> None:
    """The connection's own botocore settings are kept; only the pool is widened."""
    from sparkify.pipeline.staging.objects import FETCH_WORKERS

    extra = {"region_name": "eu-west-1", "config_kwargs": {"retries": {"max_attempts": 7}}}
    uri = "aws://AKIAEXAMPLE:secret@/?__extra__=" + quote(json.dumps(extra))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_POOLED", uri)
    op = StageJsonOperator(
        task_id="stage_songs",
        table="staging_songs",
        format="json_object",
        aws_conn_id="aws_pooled",
        bucket=BUCKET,
    )
    with mock.patch("sparkify.pipeline.warehouse.hook"):
        _settings, source, _hook = op._clients()
    config = source.client.meta.config
    assert config.max_pool_connections == FETCH_WORKERS
    assert config.retries["total_max_attempts"] == 8  # botocore: max_attempts 7, plus the first
    assert source.client.meta.region_name == "eu-west-1"
