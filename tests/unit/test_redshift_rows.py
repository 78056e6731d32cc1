"""The rehearsal's COPY rows (``rows``): JSON records or text lines turned into rows or
load errors, and the values written in COPY's text format."""

from __future__ import annotations

import json

import pytest

from sparkify.local.redshift.copy import CopyError
from sparkify.local.redshift.rows import Column, Loader, copy_text
from tests.unit.test_redshift_copy import command, text_copy

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


LINE = [Column("line", "character varying(12)")]


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
