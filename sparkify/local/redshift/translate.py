"""The Redshift rehearsal's SQL translation: a Redshift statement as PostgreSQL runs it.

Pure functions, testable without a socket: ``translate`` (the DDL, SUPER,
``REGEXP_REPLACE``, ``UNPIVOT`` and case-setting rewrites) and the quoting helpers; and
``SYSTEM_OBJECTS``, the stand-ins for Redshift's system tables and functions that a session
installs in each database (``session``). What the rehearsal does and does not prove:
``server``.
"""

from __future__ import annotations

import re

_DDL_CLAUSES = re.compile(
    r"\b(?:DISTSTYLE\s+\w+|DISTKEY\s*\(\s*[\w\"]+\s*\)|(?:COMPOUND\s+|INTERLEAVED\s+)?"
    r"SORTKEY\s*\([^)]*\)|ENCODE\s+\w+|BACKUP\s+(?:YES|NO))",
    re.IGNORECASE,
)
_CREATE_TABLE = re.compile(r"\bCREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TABLE\b", re.IGNORECASE)

# The rehearsal's stand-ins for Redshift's system tables and functions, in each database.
SYSTEM_OBJECTS = (
    """CREATE TABLE IF NOT EXISTS public.stl_load_errors (
        userid integer, slice integer, tbl integer, starttime timestamp, session integer,
        query integer, filename character(256), line_number bigint, colname character(127),
        type character(10), col_length character(10), position integer,
        raw_line character(1024), raw_field_value character(1024), err_code integer,
        err_reason character(100), is_partial integer, start_offset bigint)""",
    """CREATE TABLE IF NOT EXISTS public.sys_load_error_detail (
        user_id integer, query_id bigint, transaction_id bigint, session_id integer,
        database_name character(64), table_id integer, start_time timestamp,
        file_name character(256), line_number bigint, column_name character(127),
        column_type character(10), column_length character(10), position integer,
        error_code integer, error_message character(512))""",
    "CREATE SEQUENCE IF NOT EXISTS public.rehearsal_query_id",
    """CREATE OR REPLACE FUNCTION public.pg_last_copy_count() RETURNS bigint
        LANGUAGE sql STABLE AS $$
        SELECT COALESCE(NULLIF(current_setting('rehearsal.last_copy_count', true), ''), '0')
               ::bigint $$""",
    """CREATE OR REPLACE FUNCTION public.pg_last_copy_id() RETURNS integer
        LANGUAGE sql STABLE AS $$
        SELECT COALESCE(NULLIF(current_setting('rehearsal.last_copy_id', true), ''), '-1')
               ::integer $$""",
    # Redshift's JSON validators: IS_VALID_JSON is true for an object only, as documented.
    """CREATE OR REPLACE FUNCTION public.is_valid_json(t text) RETURNS boolean
        LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN RETURN json_typeof(t::json) = 'object';
        EXCEPTION WHEN others THEN RETURN false; END $$""",
    """CREATE OR REPLACE FUNCTION public.is_valid_json_array(t text) RETURNS boolean
        LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN RETURN json_typeof(t::json) = 'array';
        EXCEPTION WHEN others THEN RETURN false; END $$""",
    # SUPER as json: JSON_PARSE (strict: invalid text fails, as on Redshift), CAN_JSON_PARSE,
    # JSON_SERIALIZE; JSON_TYPEOF is PostgreSQL's own json_typeof, with Redshift's answers.
    """CREATE OR REPLACE FUNCTION public.json_parse(t text) RETURNS json
        LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT t::json $$""",
    """CREATE OR REPLACE FUNCTION public.can_json_parse(t text) RETURNS boolean
        LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN PERFORM t::json; RETURN t IS NOT NULL;
        EXCEPTION WHEN others THEN RETURN false; END $$""",
    """CREATE OR REPLACE FUNCTION public.json_serialize(j json) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT j::text $$""",
    # Redshift's JSON_EXTRACT_PATH_TEXT takes JSON text, and null_if_invalid.
    """CREATE OR REPLACE FUNCTION public.json_extract_path_text(t text, k text,
            null_if_invalid boolean) RETURNS text
        LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN RETURN json_extract_path_text(t::json, k);
        EXCEPTION WHEN others THEN
            IF null_if_invalid THEN RETURN NULL; END IF;
            RAISE;
        END $$""",
    # Redshift's REGEXP_REPLACE replaces every match; PostgreSQL's, without 'g', the first.
    """CREATE OR REPLACE FUNCTION public.rehearsal_regexp_replace(t text, p text, r text)
        RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT regexp_replace(t, p, r, 'g') $$""",
    """CREATE OR REPLACE FUNCTION public.getdate() RETURNS timestamp
        LANGUAGE sql STABLE AS $$
        SELECT date_trunc('second', now() AT TIME ZONE 'UTC')::timestamp $$""",
)


# SUPER: a column declared SUPER is PostgreSQL json, navigated by quoted attribute names.
_SUPER_COLUMN = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s+SUPER\b", re.IGNORECASE)
_CASE_SETTING = re.compile(
    r"\bSET\s+(enable_case_sensitive_identifier|enable_case_sensitive_super_attribute)\b",
    re.IGNORECASE,
)
_SELECT = re.compile(r"\bSELECT\b", re.IGNORECASE)
_VARCHAR_COLUMN = re.compile(
    r"(?<![\w\"])(\"?[A-Za-z_]\w*\"?)(\s+(?:VARCHAR|CHARACTER\s+VARYING)\s*\(\s*(\d+)\s*\))",
    re.IGNORECASE,
)


def _bytes_checked(match: re.Match[str]) -> str:
    """A VARCHAR(n) column definition with Redshift's width in bytes checked."""
    column, declared, width = match.group(1), match.group(2), match.group(3)
    if column.upper() == "AS":
        return match.group(0)
    name = column.strip('"').lower()
    return (
        f"{column}{declared} CONSTRAINT redshift_bytes_{name} "
        f"CHECK (octet_length({column}) <= {int(width)})"
    )


_REGEXP_REPLACE = re.compile(r"\bREGEXP_REPLACE\s*\(", re.IGNORECASE)
_UNPIVOT = re.compile(
    r"\bUNPIVOT\s+([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s+AS\s+([A-Za-z_]\w*)\s+AT\s+([A-Za-z_]\w*)",
    re.IGNORECASE,
)


def _navigate(column: str, quoted_attribute: str) -> str:
    attribute = quoted_attribute.replace('""', '"')
    return f"({column} -> {quote_literal(attribute)})"


def translate(sql: str, super_columns: set[str] | None = None) -> str:
    """A Redshift statement as PostgreSQL runs it.

    - DDL clauses PostgreSQL has no use for are left out;
    - a ``SUPER`` column is ``json`` (each session remembers the names it declared), and
      navigating it by a quoted attribute name, ``doc."itemInSession"``, is ``doc ->
      'itemInSession'`` (case kept, as Redshift keeps it once
      ``enable_case_sensitive_identifier`` is on);
    - ``SET enable_case_sensitive_identifier`` (or ``..._super_attribute``) sets a
      placeholder setting: PostgreSQL's quoted names are always case sensitive;
    - a ``VARCHAR(n)`` column of a ``CREATE TABLE`` holds at most ``n`` **bytes**, as on
      Redshift (PostgreSQL counts characters): a check constraint named
      ``redshift_bytes_<column>`` refuses a longer value (Redshift's own error text
      differs: "value too long for type character varying(n)");
    - object unpivoting, ``FROM t AS c, UNPIVOT c.doc AS v AT k``, is ``json_each``;
    - ``REGEXP_REPLACE(s, pattern, replacement)`` replaces every match, as Redshift's does
      (PostgreSQL's replaces the first unless told ``'g'``).
    """
    if _CREATE_TABLE.search(sql):
        sql = _DDL_CLAUSES.sub("", sql)
        if not _SELECT.search(sql):
            sql = _VARCHAR_COLUMN.sub(_bytes_checked, sql)
        if super_columns is not None:
            super_columns.update(m.group(1).lower() for m in _SUPER_COLUMN.finditer(sql))
        sql = _SUPER_COLUMN.sub(r"\1 json", sql)
    sql = _CASE_SETTING.sub(r"SET rehearsal.\1", sql)
    sql = _REGEXP_REPLACE.sub("rehearsal_regexp_replace(", sql)
    sql = _UNPIVOT.sub(r"LATERAL json_each(\1.\2) AS unpivoted(\4, \3)", sql)
    if super_columns:
        names = "|".join(re.escape(n) for n in sorted(super_columns))
        navigation = re.compile(rf'\b((?:[A-Za-z_]\w*\.)?(?:{names}))\."((?:[^"]|"")+)"')
        sql = navigation.sub(lambda m: _navigate(m.group(1), m.group(2)), sql)
    return sql


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
