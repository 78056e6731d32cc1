"""The rehearsal's COPY statement read (``copy``): its parts, options and refusals, the
JSONPaths expressions and the text format's delimiter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sparkify.local.redshift.copy import CopyError, is_s3_copy, parse_copy, parse_jsonpath
from sparkify.pipeline import settings as settings_module
from sparkify.pipeline.staging.redshift import copy_lines_sql

ROLE = "arn:aws:iam::123456789012:role/r"


def command(extra: str = "", json_arg: str = "auto"):
    return parse_copy(
        f"COPY t (a, b) FROM 's3://bk/p/' IAM_ROLE '{ROLE}' FORMAT AS JSON '{json_arg}' {extra}"
    )


def test_the_pipelines_own_copy_statement_parses() -> None:
    settings = settings_module.load(
        "aws",
        environ={
            "SPARKIFY_BUCKET": "sparkify-bk",
            "SPARKIFY_IAM_ROLE": ROLE,
            "SPARKIFY_REGION": "us-west-2",
        },
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


def text_copy(extra: str = "DELIMITER '\\037'") -> object:
    return parse_copy(f"COPY t (line) FROM 's3://bk/p/' IAM_ROLE '{ROLE}' {extra}")


def test_the_default_delimiter_is_a_pipe_and_octal_escapes_are_read() -> None:
    assert parse_copy(f"COPY t FROM 's3://b/k' IAM_ROLE '{ROLE}'").delimiter == "|"
    assert text_copy("DELIMITER AS '\\t'").delimiter == "\t"
    with pytest.raises(CopyError, match="single character"):
        text_copy("DELIMITER 'ab'")
