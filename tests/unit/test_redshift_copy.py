"""The rehearsal's COPY: the statement read, and JSON records or text lines turned into rows
or errors; and the statements it translates for PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sparkify.local.redshift.copy import (
    Column,
    CopyError,
    Loader,
    is_s3_copy,
    parse_copy,
    parse_jsonpath,
)
from sparkify.local.redshift.server import copy_text, translate
from sparkify.pipeline import settings as settings_module
from sparkify.pipeline.staging.redshift import copy_lines_sql

ROLE = "arn:aws:iam::123456789012:role/r"


def command(extra: str = "", json_arg: str = "auto"):
    return parse_copy(
        f"COPY t (a, b) FROM 's3://bk/p/' IAM_ROLE '{ROLE}' FORMAT AS JSON '{json_arg}' {extra}"
    )


def test_the_pipelines_own_copy_statement_parses() -> None:
    settings = settings_module.load(
        "aws", environ={"SPARKIFY_BUCKET": "sparkify-bk", "SPARKIFY_IAM_ROLE": ROLE}
    )
    hour = datetime(2018, 11, 2, 13, tzinfo=UTC)
    (sql,) = [s for s in copy_lines_sql(settings, "events", hour) if s.startswith("COPY")]
    assert is_s3_copy(sql)
    parsed = parse_copy(sql)
    assert parsed.manifest
    assert parsed.json == ""  # the text format
    assert parsed.delimiter == "\x1f"
    assert parsed.ignore_blank_lines
    assert not parsed.truncate_columns
    assert parsed.accept_inv_chars is None
    assert parsed.iam_role == ROLE
    assert parsed.max_errors == settings.max_errors
    assert (parsed.table, parsed.columns) == ("load_lines", ["line"])


def test_other_statements_are_not_intercepted() -> None:
    assert not is_s3_copy("COPY t FROM STDIN")
    assert not is_s3_copy("SELECT 'COPY x FROM ''s3://a'''")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("CREDENTIALS 'aws_access_key_id=x'", "refuses access keys"),
        ("ACCESS_KEY_ID 'x'", "refuses access keys"),
        ("DELIMITER ','", "DELIMITER is not valid with FORMAT AS JSON"),
        ("ESCAPE", "does not carry out COPY option ESCAPE"),
    ],
)
def test_what_the_rehearsal_does_not_do_is_refused(extra, message) -> None:
    with pytest.raises(CopyError, match=message):
        command(extra)


def test_a_copy_needs_an_iam_role() -> None:
    with pytest.raises(CopyError, match="IAM_ROLE"):
        parse_copy("COPY t FROM 's3://b/k' FORMAT AS JSON 'auto'")


def test_jsonpaths_parse() -> None:
    assert parse_jsonpath("$['firstName']") == ["firstName"]
    assert parse_jsonpath("$.a.b[2]") == ["a", "b", 2]
    with pytest.raises(CopyError):
        parse_jsonpath("$.a[*]")


COLUMNS = [
    Column("a", "integer"),
    Column("b", "character varying(4)"),
]


def load(lines, *, extra="", paths=None, columns=COLUMNS):
    loader = Loader(command(extra), columns, paths)
    data = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    return list(loader.rows_of("s3://bk/p/x.json", data.encode())), loader.errors


def test_values_convert_to_the_column_types() -> None:
    rows, errors = load([{"a": 1, "b": "x"}, {"a": "2"}, {"a": 3.0, "b": 12}, {"b": None}])
    assert rows == [[1, "x"], [2, None], [3, "12"], [None, None]]
    assert errors == []


@pytest.mark.parametrize(
    ("record", "code", "column"),
    [
        ({"a": 1.5}, 1207, "a"),
        ({"a": "abc"}, 1207, "a"),
        ({"a": True}, 1207, "a"),
        ({"a": 2**40}, 1204, "a"),
        ({"b": "toolong"}, 1204, "b"),
        ({"b": "é" * 3}, 1204, "b"),  # 6 bytes in a 4-byte column
    ],
)
def test_bad_values_fail_their_line(record, code, column) -> None:
    rows, errors = load([record, {"a": 1}])
    assert rows == [[1, None]]
    (error,) = errors
    assert (error.err_code, error.colname, error.line_number) == (code, column, 1)


def test_truncatecolumns_cuts_at_a_character_boundary() -> None:
    rows, errors = load([{"b": "aé€x"}], extra="TRUNCATECOLUMNS")
    assert rows == [[None, "aé"]]  # 'a' + 2-byte 'é' = 3 bytes; the 3-byte '€' does not fit
    assert errors == []


def test_invalid_utf8_fails_unless_acceptinvchars() -> None:
    loader = Loader(command(), COLUMNS)
    assert list(loader.rows_of("s3://bk/x", b'{"b": "o\xffk"}')) == []
    assert loader.errors[0].err_code == 1220
    loader = Loader(command("ACCEPTINVCHARS"), COLUMNS)
    assert list(loader.rows_of("s3://bk/x", b'{"b": "o\xffk"}')) == [[None, "o?k"]]


def test_records_spread_over_lines_count_their_last_line() -> None:
    rows, errors = load(['{"a": 1,\n "b": "x"}', '{"a":\n "no"}'])
    assert rows == [[1, "x"]]
    assert errors[0].line_number == 4


def test_broken_json_fails_its_line_and_the_next_line_still_loads() -> None:
    rows, errors = load(["{oops", {"a": 5}, "[1, 2]"])
    assert rows == [[5, None]]
    assert [(e.err_code, e.line_number) for e in errors] == [(1216, 1), (1216, 3)]


def test_auto_is_exact_and_ignorecase_is_not() -> None:
    rows, _ = load([{"A": 1}])
    assert rows == [[None, None]]
    loader = Loader(command(json_arg="auto ignorecase"), COLUMNS)
    assert list(loader.rows_of("s3://bk/x", b'{"A": 1}')) == [[1, None]]


def test_jsonpaths_and_columns_must_match_in_number() -> None:
    with pytest.raises(CopyError, match="should match"):
        Loader(command(json_arg="s3://bk/p.json"), COLUMNS, [["a"]])


def test_raw_lines_replace_multibyte_characters() -> None:
    _, errors = load([{"a": "é"}])
    assert errors[0].raw_line == '{"a": ".."}' or errors[0].raw_line.startswith('{"a": "')
    assert errors[0].raw_line.isascii()


def test_copy_text_escapes() -> None:
    assert copy_text(None) == "\\N"
    assert copy_text("a\tb\\c\nd") == "a\\tb\\\\c\\nd"
    assert copy_text(True) == "t"
    assert copy_text(1.5) == "1.5"


def test_redshift_ddl_clauses_are_dropped() -> None:
    sql = "CREATE TABLE x (a INT) DISTSTYLE KEY DISTKEY (a) COMPOUND SORTKEY (a, b)"
    assert translate(sql).split() == ["CREATE", "TABLE", "x", "(a", "INT)"]
    assert translate("SELECT 'DISTSTYLE ALL'") == "SELECT 'DISTSTYLE ALL'"


LINE = [Column("line", "character varying(12)")]


def text_copy(extra: str = "DELIMITER '\\037'") -> object:
    return parse_copy(f"COPY t (line) FROM 's3://bk/p/' IAM_ROLE '{ROLE}' {extra}")


def test_the_text_format_loads_each_line_whole() -> None:
    loader = Loader(text_copy("DELIMITER '\\037' IGNOREBLANKLINES"), LINE)
    data = b'{"a":\n\n  \n\\N\nx|y\\z\r\nlast'
    rows = list(loader.rows_of("s3://bk/p/x.json", data))
    # A blank line is skipped; white space, backslashes, | and a carriage return are data;
    # a line that is exactly \N is NULL; the last line needs no newline.
    assert rows == [['{"a":'], ["  "], [None], ["x|y\\z\r"], ["last"]]
    assert loader.errors == []


def test_the_text_format_refuses_long_lines_invalid_utf8_and_extra_fields() -> None:
    loader = Loader(text_copy(), [*LINE])
    data = b"ok\n" + b"x" * 13 + b"\nbad \xff\na\x1fb\n\nfine"
    rows = list(loader.rows_of("s3://bk/p/x.json", data))
    assert rows == [["ok"], [""], ["fine"]]  # without IGNOREBLANKLINES an empty line loads
    assert [(e.line_number, e.err_code) for e in loader.errors] == [(2, 1204), (3, 1220), (4, 1214)]


def test_the_default_delimiter_is_a_pipe_and_octal_escapes_are_read() -> None:
    assert parse_copy(f"COPY t FROM 's3://b/k' IAM_ROLE '{ROLE}'").delimiter == "|"
    assert text_copy("DELIMITER AS '\\t'").delimiter == "\t"
    with pytest.raises(CopyError, match="single character"):
        text_copy("DELIMITER 'ab'")


def test_super_columns_are_json_navigated_by_quoted_attribute() -> None:
    declared: set[str] = set()
    create = translate("CREATE TEMP TABLE d (line VARCHAR(10), doc SUPER)", declared)
    assert create == (
        "CREATE TEMP TABLE d (line VARCHAR(10) CONSTRAINT redshift_bytes_line"
        " CHECK (octet_length(line) <= 10), doc json)"
    )
    assert declared == {"doc"}
    select = translate('SELECT JSON_TYPEOF(doc."itemInSession"), c.doc."a""b" FROM d', declared)
    assert select == "SELECT JSON_TYPEOF((doc -> 'itemInSession')), (c.doc -> 'a\"b') FROM d"
    # Another session's, or an undeclared, name is not navigation.
    assert translate('SELECT t."ts" FROM t', declared) == 'SELECT t."ts" FROM t'
    assert translate('SELECT doc."ts" FROM d') == 'SELECT doc."ts" FROM d'


def test_unpivot_and_the_case_setting_are_translated() -> None:
    sql = "SELECT attr FROM c_l AS c, UNPIVOT c.doc AS v AT attr"
    assert (
        translate(sql)
        == "SELECT attr FROM c_l AS c, LATERAL json_each(c.doc) AS unpivoted(attr, v)"
    )
    assert (
        translate("SET enable_case_sensitive_identifier TO true")
        == "SET rehearsal.enable_case_sensitive_identifier TO true"
    )


def test_varchar_widths_count_bytes_as_on_redshift() -> None:
    """A VARCHAR(n) column refuses more than n bytes; a cast in a SELECT is left alone."""
    create = translate('CREATE TABLE t (a VARCHAR(4) NOT NULL, "b" CHARACTER VARYING (8))')
    assert (
        "a VARCHAR(4) CONSTRAINT redshift_bytes_a CHECK (octet_length(a) <= 4) NOT NULL" in create
    )
    assert 'CONSTRAINT redshift_bytes_b CHECK (octet_length("b") <= 8)' in create
    as_select = "CREATE TEMP TABLE x AS SELECT CAST(a AS VARCHAR(5)) AS a FROM t"
    assert translate(as_select) == as_select
