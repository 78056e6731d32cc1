"""The statements the rehearsal translates for PostgreSQL (``translate``)."""

from __future__ import annotations

from sparkify.local.redshift.translate import translate


def test_redshift_ddl_clauses_are_dropped() -> None:
    sql = "CREATE TABLE x (a INT) DISTSTYLE KEY DISTKEY (a) COMPOUND SORTKEY (a, b)"
    assert translate(sql).split() == ["CREATE", "TABLE", "x", "(a", "INT)"]
    assert translate("SELECT 'DISTSTYLE ALL'") == "SELECT 'DISTSTYLE ALL'"


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
