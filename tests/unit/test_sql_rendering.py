"""Every SQL file renders for both dialects and every load mode, and parses as that dialect.

Postgres SQL is also run by the integration tests; Redshift SQL is only checked here, so
its statements are parsed with sqlglot's ``redshift`` dialect and the COPY text, which
carries the S3 URIs and the IAM role, is checked word for word (ignoring whitespace).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlglot
from sqlglot import exp

from sparkify.local.stack.config import REHEARSAL_IAM_ROLE
from sparkify.pipeline import settings as settings_module
from sparkify.pipeline.records import (
    BOM,
    EVENT_COLUMNS,
    EVENT_FIELDS,
    EVENT_REQUIRED,
    INTEGER_BOUNDS,
    SONG_COLUMNS,
    SONG_FIELDS,
)
from sparkify.pipeline.settings import Settings, SettingsError
from sparkify.pipeline.sql import (
    MODES,
    identifier,
    quoted,
    render,
    sql_dir,
    statements,
    template_name,
)
from sparkify.pipeline.staging.ledger import LEDGER_COLUMNS
from sparkify.pipeline.staging.objects import SourceObject
from sparkify.pipeline.staging.postgres import REJECT_COLUMNS
from sparkify.pipeline.staging.redshift import (
    check_lines_sql,
    copy_lines_sql,
    insert_checked_rows_sql,
    manifest,
)

DIALECTS = ("postgres", "redshift")
BUCKET = "sparkify-test-events"
ROLE = "arn:aws:iam::123456789012:role/sparkify-redshift-s3-read"
HOUR = datetime(2018, 11, 2, 13, tzinfo=UTC)
EVENTS_MANIFEST_KEY = "_manifests/events/2018/11/02/13.manifest"
# The macros file is a library the loads import, not a statement of its own.
LIBRARIES = {"load/macros", "staging/macros"}
DIMENSIONS = ("load/load_users", "load/load_songs", "load/load_artists", "load/load_time")
# What each SQL file needs to render besides the dialect (COPY files: see copy_sql below).
# The health page's reads: bound to the range's first and last hour, both dialects alike.
HEALTH_READS = (
    "read_partition_stats",
    "read_reject_reasons",
    "read_plays",
    "read_failed_checks",
    "read_check_failures_per_hour",
    "read_newest_hour",
)
EVENT_CHECKS = [(k, c, t, k in EVENT_REQUIRED) for k, c, t in EVENT_FIELDS]
CONTEXT: dict[str, dict[str, object]] = {
    "schema/create_tables": {},
    "schema/fill_match_tables": {},
    "load/load_songplays": {},
    **{name: {"mode": "upsert"} for name in DIMENSIONS},
    "checks/reconcile_partition": {},
    "checks/commonest_rejects": {},
    "checks/read_freshness": {},
    "staging/count_duplicate_events": {},
    "staging/merge_songs": {"columns": SONG_COLUMNS},
    "staging/merge_song_picks": {},
    "staging/replace_events_partition": {"columns": EVENT_COLUMNS},
    "staging/record_copy_rejects": {"serverless": False},
    "staging/copy_event_rows": {"table": "staging_events", "columns": EVENT_COLUMNS},
    "staging/copy_song_rows": {"columns": SONG_COLUMNS},
    "staging/create_load_events": {},
    "staging/create_load_songs": {},
    "staging/count_staged_per_object": {},
    "staging/staged_song_keys": {},
    "staging/clear_events_partition": {},
    "ledger/lock": {},
    "ledger/read_staged_hours": {},
    "checks/record_result": {},
    "ledger/read_partition_objects": {},
    "ledger/read_loaded_objects": {"rows": 2},
    "ledger/read_partition": {},
    "ledger/write_partition": {},
    "ledger/sum_partition_objects": {},
    "ledger/forget_partition": {},
    "ledger/forget_object_rejects": {"rows": 2},
    "ledger/create_load_objects": {},
    "ledger/copy_load_objects": {"columns": LEDGER_COLUMNS},
    "ledger/insert_load_objects": {"columns": LEDGER_COLUMNS, "rows": 2},
    "ledger/merge_load_objects": {"columns": LEDGER_COLUMNS},
    "ledger/copy_rejects": {"columns": REJECT_COLUMNS},
    "staging/copy_lines": {},
    "staging/check_lines": {
        "fields": EVENT_CHECKS,
        "bom": BOM.decode(),
        "max_line_bytes": 65535,
        "max_depth": 64,
        "max_number_text": 200,
        "bounds": INTEGER_BOUNDS,
    },
    "staging/read_drift": {"fields": EVENT_CHECKS, "max_names": 32, "name_chars": 64},
    "staging/insert_checked_rows": {},
    "staging/record_rejects": {"raw_text_bytes": 4096},
    "staging/record_file_reject": {},
    "staging/fit_text_widths": {"table": "load_songs", "widths": {"title": 1024}, "by_hour": False},
    "staging/read_line_counts": {},
    "staging/read_text_widths": {},
    **{f"health/{name}": {} for name in HEALTH_READS},
    "health/read_partition_failures": {},
    # The demo's summary (sparkify.local.summary), read through PostgreSQL only.
    "demo/find_table": {},
    "demo/count_rows": {"table": "songplays"},
    "demo/count_matched_plays": {},
    "demo/sum_event_lines": {},
    "demo/count_outside_range": {"table": "songplays"},
    "demo/count_checks": {},
}
# The bound parameters each file may use: what its caller binds. SqlFileOperator binds
# the run's window (window_start, window_end) and its first hour (partition_hour);
# staging/postgres.py runs merge_songs without parameters; staging/redshift.py binds
# partition_hour, dataset and source_key.
REDSHIFT_STAGING_PARAMS = {"partition_hour", "dataset", "source_key", "key_starts_at"}
PARTITION = {"dataset", "partition_hour"}
WINDOW = {"partition_hour", "window_start", "window_end"}
COUNTS = {"objects", "rows_read", "rows_staged", "rows_rejected", "rows_duplicate"}
PARAMS: dict[tuple[str, str], set[str]] = {
    ("schema/create_tables", "postgres"): set(),
    ("schema/create_tables", "redshift"): set(),
    ("staging/merge_songs", "postgres"): set(),
    **{("staging/record_file_reject", d): {*REDSHIFT_STAGING_PARAMS, "reason"} for d in DIALECTS},
    **{("staging/merge_song_picks", d): set() for d in DIALECTS},
    **{("schema/fill_match_tables", d): set() for d in DIALECTS},
    ("staging/replace_events_partition", "postgres"): {"partition_hour"},
    ("staging/copy_lines", "redshift"): set(),
    ("staging/check_lines", "redshift"): set(),
    ("staging/read_drift", "redshift"): set(),
    ("staging/insert_checked_rows", "redshift"): set(),
    ("staging/read_line_counts", "redshift"): set(),
    **{("staging/read_text_widths", d): {"table"} for d in DIALECTS},
    ("staging/staged_song_keys", "postgres"): {"keys"},
    ("staging/count_duplicate_events", "postgres"): set(),
    **{("ledger/read_staged_hours", d): {"dataset", "first_hour", "last_hour"} for d in DIALECTS},
    **{
        ("checks/record_result", d): {
            "check_name",
            "table_name",
            "partition_hour",
            "window_end",
            "partition_key",
            "value",
            "passed",
        }
        for d in DIALECTS
    },
    ("ledger/lock", "postgres"): {"lock_name"},
    ("ledger/lock", "redshift"): set(),
    **{
        (f"ledger/{name}", d): PARTITION
        for name in (
            "read_partition_objects",
            "read_partition",
            "sum_partition_objects",
            "forget_partition",
        )
        for d in DIALECTS
    },
    **{("ledger/read_loaded_objects", d): {"dataset", "key_0", "key_1"} for d in DIALECTS},
    **{
        ("ledger/write_partition", d): PARTITION | COUNTS | {"rows_coerced", "drift"}
        for d in DIALECTS
    },
    ("ledger/forget_object_rejects", "postgres"): {"dataset", "keys"},
    ("ledger/forget_object_rejects", "redshift"): {"dataset", "key_0", "key_1"},
    ("ledger/insert_load_objects", "redshift"): {
        f"{column}_{i}" for column in LEDGER_COLUMNS for i in range(2)
    },
    **{
        (f"ledger/{name}", d): set()
        for name in (
            "create_load_objects",
            "merge_load_objects",
            "copy_load_objects",
            "copy_rejects",
        )
        for d in DIALECTS
    },
    **{
        (f"health/{name}", dialect): {"first_hour", "last_hour"}
        for name in HEALTH_READS
        for dialect in DIALECTS
    },
}
PARAMS |= {
    ("demo/find_table", "postgres"): {"table"},
    ("demo/count_rows", "postgres"): set(),
    ("demo/count_matched_plays", "postgres"): set(),
    **{
        (f"demo/{name}", "postgres"): {"first_hour", "last_hour"}
        for name in ("sum_event_lines", "count_outside_range", "count_checks")
    },
}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def squash(sql: str) -> str:
    """SQL with its layout normalised: whitespace runs made one space, none inside parens."""
    text = " ".join(sql.split())
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", text))


def sql_files() -> dict[str, set[str | None]]:
    """Logical name -> the dialect variants present (``None``: the shared file)."""
    found: dict[str, set[str | None]] = {}
    for path in sorted(sql_dir().rglob("*.sql")):
        rel = path.relative_to(sql_dir()).as_posix().removesuffix(".sql")
        name, _, variant = rel.partition(".")
        found.setdefault(name, set()).add(variant or None)
    return found


def dialects_of(name: str) -> list[str]:
    variants = sql_files()[name]
    return list(DIALECTS) if None in variants else sorted(v for v in variants if v)


# What a deployment must set on AWS (config/aws.toml leaves them empty).
AWS_ENV = {"SPARKIFY_BUCKET": BUCKET, "SPARKIFY_IAM_ROLE": ROLE, "SPARKIFY_REGION": "us-west-2"}


def aws_settings(**changes: object) -> Settings:
    base = settings_module.load("aws", environ=AWS_ENV)
    return replace(base, **{"bucket": BUCKET, "iam_role": ROLE, **changes}).validate()


def rendered(name: str, dialect: str, **context: object) -> list[str]:
    """The statements of ``name`` as the pipeline renders them."""
    if name == "staging/copy_lines":
        return copy_lines_sql(aws_settings(), "events", HOUR)
    if name == "staging/check_lines":
        return check_lines_sql("events")
    if name == "staging/insert_checked_rows":
        return insert_checked_rows_sql("events", {"artist": 1024, "auth": 32})
    return statements(render(name, dialect, **{**CONTEXT[name], **context}))


def cases() -> list[tuple[str, str, str | None]]:
    """(name, dialect, mode) for every renderable file, with every mode where it applies."""
    out = []
    for name in sorted(sql_files()):
        if name in LIBRARIES:
            continue
        for dialect in dialects_of(name):
            modes = MODES if "mode" in CONTEXT.get(name, {}) else (None,)
            out.extend((name, dialect, mode) for mode in modes)
    return out


def with_literals(sql: str) -> str:
    """Bound parameters replaced by literals of their type, so that sqlglot can parse."""

    def literal(match: re.Match[str]) -> str:
        if match.group(1) in (
            "partition_hour",
            "first_hour",
            "last_hour",
            "window_start",
            "window_end",
        ):
            return "CAST('2018-11-02 13:00:00' AS TIMESTAMP)"
        return "'x'"

    return PLACEHOLDER.sub(literal, sql)


# sqlglot has no grammar for LOCK and keeps it as a Command; its syntax is checked below.
UNPARSED_BY_SQLGLOT = ("LOCK ",)
# PostgreSQL-only statements beyond sqlglot's grammar (ON COMMIT DROP ... WITH NO DATA, a
# binary COPY): the integration tier runs each of them on a real PostgreSQL.
BEYOND_SQLGLOT = {
    "staging/copy_event_rows",
    "staging/create_load_events",
    "staging/create_load_songs",
    "ledger/create_load_objects",
}


def parse(sql: str, dialect: str) -> list[exp.Expression]:
    """Parse one statement strictly: a syntax error raises, nothing is left unparsed."""
    trees = sqlglot.parse(with_literals(sql), read=dialect)
    assert len(trees) == 1, f"one statement expected:\n{sql}"
    (tree,) = trees
    assert tree is not None
    if not sql.upper().startswith(UNPARSED_BY_SQLGLOT):
        assert not isinstance(tree, exp.Command), f"sqlglot could not parse:\n{sql}"
    return trees


# -- every file ---------------------------------------------------------------------------


def test_every_sql_file_is_covered_here() -> None:
    """A new SQL file must say here what it needs to render."""
    assert set(sql_files()) - LIBRARIES == set(CONTEXT)
    assert len(cases()) > len(CONTEXT)  # dialects and modes multiply the files


@pytest.mark.parametrize(("name", "dialect", "mode"), cases())
def test_renders_and_parses_as_its_dialect(name: str, dialect: str, mode: str | None) -> None:
    extra = {"mode": mode} if mode else {}
    sqls = rendered(name, dialect, **extra)
    assert sqls, f"{name} renders no statement"
    for sql in sqls:
        assert "{{" not in sql
        assert "{%" not in sql
        if (name, dialect) not in {(n, "postgres") for n in BEYOND_SQLGLOT}:
            parse(sql, dialect)
        allowed = PARAMS.get((name, dialect))
        if allowed is None:
            allowed = REDSHIFT_STAGING_PARAMS if name.startswith("staging/") else WINDOW
        assert set(PLACEHOLDER.findall(sql)) <= allowed, (name, dialect, sql)


def test_the_parse_check_can_fail() -> None:
    with pytest.raises(sqlglot.errors.ParseError):
        parse("INSERT INTO songs (song_id SELECT 1", "redshift")
    with pytest.raises(sqlglot.errors.ParseError):
        parse("SELECT FROM WHERE", "postgres")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_locks_use_the_dialects_syntax(dialect: str) -> None:
    locks = [
        sql
        for name in (*DIMENSIONS, "load/load_songplays")
        for sql in rendered(name, dialect)
        if sql.upper().startswith("LOCK ")
    ]
    assert len(locks) >= len(DIMENSIONS), "every dimension load locks its table"
    # Redshift's LOCK takes table names only and is exclusive: the loads lock lock_model, a
    # table nobody reads. PostgreSQL's takes a mode that lets readers of the table through.
    pattern = (
        r"LOCK lock_model"
        if dialect == "redshift"
        else r'LOCK TABLE "[a-z_]+" IN SHARE ROW EXCLUSIVE MODE'
    )
    for sql in locks:
        assert re.fullmatch(pattern, sql), sql
    staging_lock = rendered("ledger/lock", dialect)
    assert staging_lock == (
        ["LOCK lock_staging"]
        if dialect == "redshift"
        else ["SELECT pg_advisory_xact_lock(hashtext(%(lock_name)s))"]
    )


def test_dialect_variants_override_the_shared_file() -> None:
    assert template_name("schema/create_tables", "redshift") == "schema/create_tables.redshift.sql"
    assert template_name("schema/create_tables", "postgres") == "schema/create_tables.sql"
    assert template_name("load/load_users", "redshift") == "load/load_users.sql"
    redshift = squash(render("schema/create_tables", "redshift"))
    postgres = squash(render("schema/create_tables", "postgres"))
    assert "DISTSTYLE" in redshift
    assert "CREATE INDEX" not in redshift
    assert "DISTSTYLE" not in postgres
    assert "CREATE UNIQUE INDEX IF NOT EXISTS staging_events_event_uq" in postgres


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_schema_creates_every_table_idempotently(dialect: str) -> None:
    trees = [parse(sql, dialect)[0] for sql in rendered("schema/create_tables", dialect)]
    # Columns added since the first release: ADD COLUMN IF NOT EXISTS (PostgreSQL only;
    # Redshift has no IF NOT EXISTS there: docs/redshift.md, upgrading).
    alters = [tree for tree in trees if isinstance(tree, exp.Alter)]
    for tree in alters:
        assert all(action.args.get("exists") for action in tree.actions), tree.sql(dialect)
    assert len(alters) == (2 if dialect == "postgres" else 0)
    # Besides CREATEs, only the fill of the two matching tables for a warehouse made before
    # them (schema/fill_match_tables), which adds only what is missing.
    fills = [tree for tree in trees if isinstance(tree, exp.Insert)]
    assert sorted(tree.this.this.name for tree in fills) == ["song_picks", "unmatched_plays"]
    creates = [tree for tree in trees if not isinstance(tree, (exp.Alter, exp.Insert))]
    tables = {
        tree.this.this.name if isinstance(tree.this, exp.Schema) else tree.this.name
        for tree in creates
        if isinstance(tree, exp.Create) and tree.kind == "TABLE"
    }
    assert tables == {
        "staging_events",
        "staging_songs",
        "staging_rejects",
        "load_ledger",
        "staging_partitions",
        "songplays",
        "users",
        "songs",
        "artists",
        "time",
        "check_results",
        # What model matches plays with (load/load_songplays, staging/merge_song_picks).
        "song_picks",
        "unmatched_plays",
        # Redshift's stand-ins for advisory locks (sql/ledger/lock.redshift.sql, load/macros).
        *(("lock_staging", "lock_model") if dialect == "redshift" else ()),
    }
    for tree in creates:
        assert isinstance(tree, exp.Create)
        assert tree.args.get("exists"), f"not IF NOT EXISTS: {tree.sql(dialect)[:80]}"
    assert not any("DROP" in sql.upper() for sql in rendered("schema/create_tables", dialect))


# -- load modes ---------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_upsert_replaces_arriving_keys_of_the_partition(dialect: str) -> None:
    sqls = [squash(s) for s in rendered("load/load_songs", dialect, mode="upsert")]
    # The songs that arrive: the window's, and every staged song not in `songs` yet,
    # whatever hour staged it (a model run that failed leaves none behind).
    assert (
        squash(
            """
        CREATE TEMP TABLE arrived_songs AS
        SELECT s.song_id
        FROM staging_songs AS s
        WHERE (s.partition_hour >= %(window_start)s AND s.partition_hour < %(window_end)s)
           OR NOT EXISTS (SELECT 1 FROM songs AS t WHERE t.song_id = s.song_id)
        """
        )
        in sqls
    )
    assert (
        squash(
            """
        CREATE TEMP TABLE "incoming_songs" AS
        SELECT s.song_id, s.title, s.artist_id, s.year, s.duration
        FROM staging_songs AS s
        JOIN arrived_songs AS a ON a.song_id = s.song_id
        """
        )
        in sqls
    )
    assert (
        squash(
            """
        DELETE FROM "songs" USING "incoming_songs" AS i
        WHERE "songs"."song_id" = i."song_id"
        """
        )
        in sqls
    )
    assert (
        squash(
            """
        INSERT INTO "songs" ("song_id", "title", "artist_id", "year", "duration")
        SELECT "song_id", "title", "artist_id", "year", "duration" FROM "incoming_songs"
        """
        )
        in sqls
    )
    assert sqls[-1] == squash('DROP TABLE "incoming_songs"')


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("load", ["load_songs", "load_artists", "load_time", "load_users"])
def test_no_upsert_statement_reads_the_table_it_inserts_into(dialect: str, load: str) -> None:
    """An INSERT that also reads its own table can go quadratic (the macro's comment)."""
    table = load.removeprefix("load_")
    inserts = [
        s
        for s in (squash(s) for s in rendered(f"load/{load}", dialect, mode="upsert"))
        if s.startswith(f'INSERT INTO "{table}"')
    ]
    assert len(inserts) == 1
    assert inserts[0].endswith(f'FROM "incoming_{table}"')
    assert "EXISTS" not in inserts[0]


def test_upsert_of_users_keeps_the_newer_event() -> None:
    sqls = [squash(s) for s in rendered("load/load_users", "postgres", mode="upsert")]
    assert (
        squash(
            """
        DELETE FROM "users" USING "incoming_users" AS i
        WHERE "users"."user_id" = i."user_id"
          AND "users"."last_event_ts" <= i."last_event_ts"
        """
        )
        in sqls
    )
    # What is left under an arriving key is newer: that arriving row is dropped, then the
    # rest inserted, in that order.
    drop = squash(
        """
        DELETE FROM "incoming_users" USING "users" AS t
        WHERE "incoming_users"."user_id" = t."user_id"
        """
    )
    insert = next(s for s in sqls if s.startswith('INSERT INTO "users"'))
    assert sqls.index(drop) < sqls.index(insert)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_truncate_insert_reloads_everything_staged(dialect: str) -> None:
    sqls = [squash(s) for s in rendered("load/load_songs", dialect, mode="truncate_insert")]
    # DELETE, not TRUNCATE: TRUNCATE commits implicitly on Redshift.
    assert squash('DELETE FROM "songs"') in sqls
    assert not any("TRUNCATE" in s for s in sqls)
    assert not any("%(partition_hour)s" in s for s in sqls)
    assert (
        squash(
            """
        INSERT INTO "songs" ("song_id", "title", "artist_id", "year", "duration")
        SELECT "song_id", "title", "artist_id", "year", "duration" FROM "incoming_songs"
        """
        )
        in sqls
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_append_inserts_without_deleting(dialect: str) -> None:
    sqls = [squash(s) for s in rendered("load/load_time", dialect, mode="append")]
    assert not any(s.startswith("DELETE") for s in sqls)
    assert (
        squash(
            """
        INSERT INTO "time" ("start_time", "hour", "day", "week", "month", "year", "weekday")
        SELECT "start_time", "hour", "day", "week", "month", "year", "weekday"
        FROM "incoming_time"
        """
        )
        in sqls
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_songplays_replace_exactly_the_partition(dialect: str) -> None:
    sqls = [squash(s) for s in rendered("load/load_songplays", dialect)]
    window = "{0}partition_hour >= %(window_start)s AND {0}partition_hour < %(window_end)s"
    deletes = [s for s in sqls if s.startswith("DELETE FROM songplays")]
    assert deletes == [f"DELETE FROM songplays WHERE {window.format('')}"]
    assert f"DELETE FROM unmatched_plays WHERE {window.format('')}" in sqls
    inserts = [s for s in sqls if s.startswith("INSERT INTO songplays")]
    assert len(inserts) == 1
    assert f"WHERE {window.format('e.')} AND e.page = 'NextSong'" in inserts[0]
    # The plays left unmatched come from the same events through the same match, never
    # from songplays (just written, no statistics) joined back to staging_events.
    (waiting,) = [s for s in sqls if s.startswith("INSERT INTO unmatched_plays")]
    assert f"WHERE {window.format('e.')} AND e.page = 'NextSong' AND m.song_id IS NULL" in waiting
    assert "songplays" not in waiting
    assert waiting.split(" FROM ", 1)[1].startswith(inserts[0].split(" FROM ", 1)[1])
    # Late songs re-matched: the waiting plays are found once, from the picks among the
    # songs this run brought in (whatever hour staged them), and both the UPDATE and the
    # DELETE read that one list.
    (found,) = [s for s in sqls if s.startswith("CREATE TEMP TABLE rematched_plays AS")]
    assert "arrived_songs AS a" in found
    assert "a.song_id = p.song_id" in found
    assert "unmatched_plays AS u" in found
    (update,) = [s for s in sqls if s.startswith("UPDATE songplays")]
    assert "FROM rematched_plays AS m" in update
    assert "songplays.songplay_id = m.songplay_id" in update
    (forget,) = [s for s in sqls if s.startswith("DELETE FROM unmatched_plays USING")]
    assert forget.endswith(
        "USING rematched_plays AS m WHERE unmatched_plays.songplay_id = m.songplay_id"
    )
    assert not any("unmatched_plays AS u" in s for s in (update, forget))
    assert sqls.index(found) < sqls.index(update) < sqls.index(forget)
    assert sqls[-2:] == ["DROP TABLE rematched_plays", "DROP TABLE arrived_songs"]
    # The pick among duplicate songs is made when songs are staged, never per hour here.
    assert not any("ROW_NUMBER" in s or "staging_songs" in s for s in sqls)


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Users", "users; DROP TABLE users", 'a"b', "1abc", "", "a" * 64, "user id", "users\n"],
)
def test_bad_identifiers_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid SQL identifier"):
        identifier(name)
    with pytest.raises(ValueError, match="not a valid SQL identifier"):
        render("staging/merge_songs", "postgres", columns=("song_id", name))


def test_good_identifiers_are_quoted() -> None:
    assert identifier("song_id") == "song_id"
    assert quoted("time") == '"time"'
    assert identifier("a" * 63) == "a" * 63


@pytest.mark.parametrize("mode", ["merge", "UPSERT", "upsert; DROP TABLE users", ""])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_bad_modes_are_refused(dialect: str, mode: str) -> None:
    with pytest.raises(ValueError, match="load mode"):
        render("load/load_users", dialect, mode=mode)


def test_a_dimension_load_needs_its_mode() -> None:
    with pytest.raises(Exception, match="mode"):
        render("load/load_users", "postgres")


# -- Redshift COPY ------------------------------------------------------------------------


def test_copy_lines_reads_the_hours_manifest_line_by_line_with_the_role() -> None:
    settings = aws_settings()
    sqls = copy_lines_sql(settings, "events", HOUR)
    (copy,) = [s for s in sqls if s.startswith("COPY")]
    assert squash(copy) == squash(
        f"""
        COPY load_lines (line)
        FROM 's3://{BUCKET}/{EVENTS_MANIFEST_KEY}'
        IAM_ROLE '{ROLE}'
        MANIFEST
        REGION '{settings.region}'
        DELIMITER '\\037'
        IGNOREBLANKLINES
        MAXERROR {settings.max_errors}
        COMPUPDATE OFF
        STATUPDATE OFF
        """
    )


@pytest.mark.parametrize("dataset", ["events", "songs"])
def test_check_lines_reads_every_field_by_its_exact_key(dataset: str) -> None:
    sql = " ".join(check_lines_sql(dataset))
    fields = EVENT_FIELDS if dataset == "events" else SONG_FIELDS
    for key, column, _ in fields:
        assert f'JSON_TYPEOF(doc."{key}") AS t_{column}' in sql
        assert f"JSON_EXTRACT_PATH_TEXT(line, '{key}', TRUE) END AS v_{column}" in sql
    # Case-sensitive navigation (itemInSession, not iteminsession) is switched on first.
    assert check_lines_sql(dataset)[0] == "SET enable_case_sensitive_identifier TO true"
    # Backslashes mean different things in Redshift's and PostgreSQL's string literals.
    assert "\\" not in sql


def test_a_json_key_that_is_not_plain_is_refused() -> None:
    with pytest.raises(ValueError, match="not a plain JSON attribute name"):
        render(
            "staging/check_lines",
            "redshift",
            fields=[("a'b", "a", "text", False)],
            bom="",
            max_line_bytes=1,
            max_depth=1,
            max_number_text=1,
            bounds={},
        )


def test_checked_rows_are_cut_to_the_columns_widths() -> None:
    (_, _, insert) = insert_checked_rows_sql("events", {"auth": 32})
    assert 'WHEN OCTET_LENGTH(LEFT("auth", 32)) <= 32 THEN LEFT("auth", 32)' in insert
    assert 'ELSE LEFT("auth", 8) END' in insert
    assert 'LEFT("artist"' not in insert
    assert insert.rstrip().endswith("WHERE reason IS NULL")


def test_the_manifest_names_exactly_the_objects() -> None:
    objects = [
        SourceObject("song_data/A/B/C/x.json", "e1", 10),
        SourceObject("song_data/y", "e", 1),
    ]
    assert manifest(BUCKET, objects) == {
        "entries": [
            {"url": f"s3://{BUCKET}/song_data/A/B/C/x.json", "mandatory": True},
            {"url": f"s3://{BUCKET}/song_data/y", "mandatory": True},
        ]
    }


@pytest.mark.parametrize("which", ["events", "songs"])
def test_no_credentials_in_copy(which: str) -> None:
    settings = aws_settings()
    sqls = copy_lines_sql(settings, which, HOUR)
    text = " ".join(sqls).upper()
    for secret in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "CREDENTIALS", "SESSION_TOKEN", "AKIA"):
        assert secret not in text
    assert text.count("IAM_ROLE") == 1


# -- settings that end up in SQL text ------------------------------------------------------


def test_shipped_settings_are_valid() -> None:
    assert settings_module.load("local", environ={}).env == "local"
    assert settings_module.load("aws", environ=AWS_ENV).env == "aws"


@pytest.mark.parametrize(
    "role",
    [
        "",
        "AKIAIOSFODNN7EXAMPLE",
        "arn:aws:iam::123:role/short-account",
        "arn:aws:iam::123456789012:user/not-a-role",
        "arn:aws:iam::123456789012:role/x' CREDENTIALS 'aws_access_key_id=AKIA",
        "arn:aws:iam::123456789012:role/",
        # A value read from a secret file often ends in a newline: refused, not sent to COPY.
        ROLE + "\n",
    ],
)
def test_a_bad_iam_role_is_refused(role: str) -> None:
    with pytest.raises(SettingsError, match="IAM role"):
        settings_module.load("aws", environ={**AWS_ENV, "SPARKIFY_IAM_ROLE": role})


def test_a_good_iam_role_is_accepted() -> None:
    for role in (ROLE, "arn:aws-cn:iam::123456789012:role/path/to/role_name+x=y,z.w@v-1"):
        assert (
            settings_module.load("aws", environ={**AWS_ENV, "SPARKIFY_IAM_ROLE": role}).iam_role
            == role
        )


@pytest.mark.parametrize(
    "role",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "arn:aws:iam::000000000000:role/x' CREDENTIALS 'aws_access_key_id=AKIA",
        REHEARSAL_IAM_ROLE + "\n",
    ],
)
def test_a_bad_iam_role_is_refused_off_aws_too_quoting_it(role: str) -> None:
    with pytest.raises(SettingsError, match="IAM role") as info:
        settings_module.load("local", environ={"SPARKIFY_IAM_ROLE": role})
    assert repr(role) in str(info.value)


def test_off_aws_the_role_may_be_empty_or_the_rehearsals() -> None:
    assert settings_module.load("local", environ={}).iam_role == ""
    rehearsal = settings_module.load("local", environ={"SPARKIFY_IAM_ROLE": REHEARSAL_IAM_ROLE})
    assert rehearsal.iam_role == REHEARSAL_IAM_ROLE


def test_copy_needs_a_role_even_off_aws() -> None:
    settings = settings_module.load("local", environ={})
    with pytest.raises(SettingsError, match=r"COPY needs an IAM role.*SPARKIFY_IAM_ROLE"):
        copy_lines_sql(settings, "events", HOUR)
    rehearsal = replace(settings, iam_role=REHEARSAL_IAM_ROLE)
    (copy,) = [s for s in copy_lines_sql(rehearsal, "events", HOUR) if s.startswith("COPY")]
    assert f"IAM_ROLE '{REHEARSAL_IAM_ROLE}'" in copy


def test_copy_validates_settings_made_without_load() -> None:
    # replace() skips validate(): copy_lines_sql validates again before writing SQL text.
    for bad in ({"iam_role": ROLE + "' x"}, {"manifest_prefix": "s3://b/x'; --/"}):
        with pytest.raises(SettingsError):
            copy_lines_sql(replace(aws_settings(), **bad), "events", HOUR)


# -- where the COPY manifests go --------------------------------------------------------


def test_manifests_go_to_the_source_buckets_manifests_prefix_by_default() -> None:
    settings = aws_settings()
    assert settings.manifest_prefix == ""
    assert settings.manifests == (BUCKET, "_manifests/")
    (copy,) = [s for s in copy_lines_sql(settings, "songs", HOUR) if s.startswith("COPY")]
    assert f"FROM 's3://{BUCKET}/_manifests/songs/2018/11/02/13.manifest'" in copy


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("s3://sparkify-manifests/", ("sparkify-manifests", "")),
        ("s3://sparkify-manifests/copy/manifests/", ("sparkify-manifests", "copy/manifests/")),
        (f"s3://{BUCKET}/_sparkify/manifests/", (BUCKET, "_sparkify/manifests/")),
    ],
)
def test_manifests_may_go_elsewhere(value: str, where: tuple[str, str]) -> None:
    settings = settings_module.load("aws", environ={**AWS_ENV, "SPARKIFY_MANIFEST_PREFIX": value})
    assert settings.manifests == where
    (copy,) = [s for s in copy_lines_sql(settings, "events", HOUR) if s.startswith("COPY")]
    assert f"FROM 's3://{where[0]}/{where[1]}events/2018/11/02/13.manifest'" in copy


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("sparkify-manifests/m/", "is not s3://<bucket>/<prefix>/"),
        ("s3://sparkify-manifests", "is not s3://<bucket>/<prefix>/"),
        ("https://sparkify-manifests/m/", "is not s3://<bucket>/<prefix>/"),
        ("s3://Bad_Bucket/m/", "not a valid S3 bucket name"),
        ("s3://b'; DROP TABLE x; --/m/", "not a valid S3 bucket name"),
        ("s3://sparkify-manifests/m", "must end in /"),
        ("s3://sparkify-manifests/m'; --/", "must end in /"),
        ("s3://sparkify-manifests/../m/", "must end in /"),
        ("s3://sparkify-manifests//m/", "must end in /"),
        ("s3://sparkify-manifests/m/\n", "is not s3://"),
        (f"s3://{BUCKET}/log_data/manifests/", "overlaps the data prefix events_prefix"),
        (f"s3://{BUCKET}/song_data/", "overlaps the data prefix songs_prefix"),
    ],
)
def test_a_bad_manifest_prefix_is_refused_quoting_it(value: str, why: str) -> None:
    environ = {"SPARKIFY_BUCKET": BUCKET, "SPARKIFY_MANIFEST_PREFIX": value}
    with pytest.raises(SettingsError, match=re.escape(why)) as info:
        settings_module.load("aws", environ={**AWS_ENV, **environ})
    assert f"manifest_prefix {value!r}" in str(info.value)


@pytest.mark.parametrize(
    "bucket",
    ["Bad_Bucket", "ab", "x" * 64, "b'; DROP TABLE users; --", "-lead", "trail-", "", "bucket\n"],
)
def test_a_bad_bucket_is_refused(bucket: str) -> None:
    with pytest.raises(SettingsError, match="bucket"):
        settings_module.load("local", environ={"SPARKIFY_BUCKET": bucket})


@pytest.mark.parametrize("field", ["EVENTS_PREFIX", "SONGS_PREFIX"])
@pytest.mark.parametrize("value", ["log data", "../secrets", "x'; --", "a\\b", "", "k\n"])
def test_a_bad_prefix_is_refused(field: str, value: str) -> None:
    with pytest.raises(SettingsError, match=field.lower()):
        settings_module.load("aws", environ={**AWS_ENV, f"SPARKIFY_{field}": value})


@pytest.mark.parametrize("region", ["us-west-2' CREDENTIALS 'x", "US-WEST-2", "", "us west 2"])
def test_a_bad_region_is_refused(region: str) -> None:
    # The region is written into the COPY statement like the role and the URIs.
    with pytest.raises(SettingsError, match="region"):
        settings_module.load("aws", environ={**AWS_ENV, "SPARKIFY_REGION": region})


def test_copy_sql_only_takes_validated_settings() -> None:
    with pytest.raises(SettingsError):
        aws_settings(bucket="no'quotes")


@pytest.mark.parametrize("field", ["LATE_LOOKBACK_HOURS", "FRESHNESS_MAX_AGE_HOURS"])
def test_hour_limits_must_be_positive(field: str) -> None:
    with pytest.raises(SettingsError, match=field.lower()):
        settings_module.load("local", environ={f"SPARKIFY_{field}": "0"})
    assert getattr(settings_module.load("local", environ={}), field.lower()) == 24


def test_the_late_check_schedule_comes_from_the_environment() -> None:
    assert settings_module.late_check_cron({}) == "*/5 * * * *"
    assert settings_module.late_check_cron({"SPARKIFY_LATE_CHECK_CRON": "* * * * *"}) == (
        "* * * * *"
    )
    for bad in ("@hourly; DROP", "* * * *", "*/5 * * * * *", "every minute"):
        with pytest.raises(SettingsError, match="SPARKIFY_LATE_CHECK_CRON"):
            settings_module.late_check_cron({"SPARKIFY_LATE_CHECK_CRON": bad})


def test_the_retry_delay_comes_from_the_environment() -> None:
    assert settings_module.retry_delay({}) == timedelta(minutes=5)
    assert settings_module.retry_delay({"SPARKIFY_RETRY_DELAY_SECONDS": "5"}) == timedelta(
        seconds=5
    )
    for bad in ("-1", "five", "5m"):
        with pytest.raises(SettingsError, match="SPARKIFY_RETRY_DELAY_SECONDS"):
            settings_module.retry_delay({"SPARKIFY_RETRY_DELAY_SECONDS": bad})


@pytest.mark.parametrize("missing", ["SPARKIFY_BUCKET", "SPARKIFY_IAM_ROLE", "SPARKIFY_REGION"])
def test_on_aws_the_bucket_role_and_region_must_be_set(missing: str) -> None:
    environ = {k: v for k, v in AWS_ENV.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        settings_module.load("aws", environ=environ)
    assert settings_module.load("aws", environ=AWS_ENV).bucket == BUCKET
