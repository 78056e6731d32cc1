"""The Redshift rehearsal: a stand-in for an Amazon Redshift endpoint, on 127.0.0.1.

It speaks the PostgreSQL wire protocol to its clients (``redshift_connector``, through the
amazon provider's ``RedshiftSQLHook``) and forwards every message to the stack's real
PostgreSQL, one backend connection per client connection, except where PostgreSQL cannot
do what Redshift does:

- **Startup.** The Redshift-only startup parameters the driver sends
  (``client_protocol_version``, ``driver_version``, ``os_version``,
  ``driver_discovery_version``, ``plugin_name``, ...) are left out; PostgreSQL refuses them.
  ``server_version`` is reported as Redshift reports it (``8.0.2``): the driver parses it
  with ``packaging``, which cannot parse ``15.x (Debian ...)``.
- **Authentication.** The client is asked for an md5 password (the driver's SCRAM fails
  against PostgreSQL 15) and checked against the warehouse role's password; the rehearsal
  then logs in to PostgreSQL itself, with SCRAM. SSL is declined (``ssl: false`` in the
  connection's extra). Before the login succeeds, what a client can cost is bounded as
  PostgreSQL bounds it: 60 s in all (``authentication_timeout``), a startup packet of at
  most 10,000 bytes, a password message of at most 65,535, every length checked before its
  body is read (``wire``); a violation is answered with FATAL 08P01 and the connection closed.
- **COPY from S3.** ``COPY <table> [(cols)] FROM 's3://...' IAM_ROLE '...' [FORMAT AS JSON
  'auto' | 'auto ignorecase' | 's3://jsonpaths'] [DELIMITER 'c'] [IGNOREBLANKLINES]
  [MANIFEST] [MAXERROR n] [TRUNCATECOLUMNS] [ACCEPTINVCHARS] [REGION ...] [GZIP]`` (JSON, or
  Redshift's text format), in the simple and the extended query protocol,
  is carried out by the rehearsal (``sparkify.local.redshift.copy``): it reads the objects
  from the stack's S3 endpoint (boto3, with the endpoint and the fake keys of the stack's
  environment; the IAM role is only checked for presence) and feeds the converted rows to
  ``COPY <table> (cols) FROM STDIN`` on the client's own backend connection, so the load
  is part of the client's transaction, committed or rolled back with it. Lines COPY
  refuses go to ``stl_load_errors`` and ``sys_load_error_detail`` through a separate
  connection, committed at once, as Redshift's system tables keep them whatever the
  transaction does. ``pg_last_copy_count()`` and ``pg_last_copy_id()`` read session
  settings the rehearsal sets after each COPY. A COPY that fails (more errors than
  MAXERROR, a prefix or manifest that matches nothing) fails the statement and aborts the
  transaction, as on Redshift; its message (which may quote S3 keys and URLs) reaches the
  client in an ErrorResponse of the rehearsal's own, never inside SQL.
- **DDL.** ``DISTSTYLE``, ``DISTKEY``, ``SORTKEY`` and ``ENCODE`` clauses are dropped from
  ``CREATE TABLE``; ``GETDATE()``, ``IS_VALID_JSON()`` and ``IS_VALID_JSON_ARRAY()`` exist
  as functions.
- **SUPER.** A column declared ``SUPER`` is PostgreSQL ``json``; navigating it by a quoted
  attribute (``doc."itemInSession"``) is ``doc -> 'itemInSession'``; object ``UNPIVOT`` is
  ``json_each``; ``JSON_PARSE``, ``CAN_JSON_PARSE``, ``JSON_SERIALIZE`` and
  ``JSON_EXTRACT_PATH_TEXT`` on text exist as functions (``JSON_TYPEOF`` is PostgreSQL's);
  ``SET enable_case_sensitive_identifier`` sets a placeholder (see ``translate``).

What it proves: the pipeline's Redshift path (the hook, the driver, its parameter binding,
the ``*.redshift.sql`` variants, Redshift's COPY statement with its manifest, JSONPaths and
options) runs end to end, in the transactions the code asks for, with COPY's line
accounting (loaded rows, refused lines, ``pg_last_copy_count()``, the error tables) as
Redshift documents it.

- **Isolation.** ``--isolation serializable`` (or ``$SPARKIFY_REDSHIFT_ISOLATION``) runs
  the sessions SERIALIZABLE, as Redshift's are, and PostgreSQL's serialization failure
  (SQLSTATE 40001) reaches the client in Redshift's form, error ``1023`` "Serializable
  isolation violation on table", so the pipeline's locks and retry are rehearsed
  (``tests/integration/test_redshift_concurrency.py``). The default is READ COMMITTED:
  under SERIALIZABLE a COPY's own transaction cannot see the ``stl_load_errors`` rows the
  rehearsal commits beside it, which Redshift's system tables, outside every snapshot, show.

What it cannot prove: performance, distribution and sort keys (dropped), which concurrent
transactions Redshift's serializable isolation aborts (PostgreSQL's SSI decides beneath,
with its own, row-level rules, while Redshift's conflicts are per table),
Redshift's exact error texts (the rehearsal's say what failed, with Redshift's load error
codes), IAM (no role is assumed), Redshift-only SQL beyond what the pipeline uses
(PostgreSQL rejects it, which the rehearsal reports as the error it is), SUPER's semantics
beyond what ``json`` mirrors, and SUPER, Parquet or CSV loads. Run it with
``python -m sparkify.local.redshift.server``; the password comes from
``$SPARKIFY_REDSHIFT_PASSWORD``, never from the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import logging
import os
import re
import secrets
import signal
import socket
import socketserver
import struct
import threading
import time
from typing import Any

from sparkify.local.redshift import wire
from sparkify.local.redshift.copy import (
    Column,
    CopyError,
    Loader,
    LoadError,
    is_s3_copy,
    jsonpaths,
    parse_copy,
    sources,
)

log = logging.getLogger("sparkify.redshift")

REDSHIFT_SERVER_VERSION = "8.0.2"
PASSWORD_ENV = "SPARKIFY_REDSHIFT_PASSWORD"
# Further users, as JSON {"user": "password"} (the local stack's SELECT-only reader).
USERS_ENV = "SPARKIFY_REDSHIFT_USERS"
ISOLATION_ENV = "SPARKIFY_REDSHIFT_ISOLATION"
# PostgreSQL's authentication_timeout: a client has this long to start up and log in.
AUTHENTICATION_TIMEOUT = 60.0
# Fails a COPY's statement on the backend, so that its transaction fails as on Redshift; the
# client gets the rehearsal's own ErrorResponse in its place, so no error text goes into SQL.
FAIL_STATEMENT = "DO $$ BEGIN RAISE EXCEPTION 'the Redshift rehearsal failed a COPY'; END $$"
# Redshift runs every transaction SERIALIZABLE. The rehearsal runs READ COMMITTED unless told
# otherwise: under SERIALIZABLE a COPY's transaction could not see the load errors the
# rehearsal commits beside it (Redshift's system tables are outside every snapshot).
ISOLATION_LEVELS = ("read committed", "serializable")
SERIALIZATION_SQLSTATE = "40001"
# Startup parameters PostgreSQL takes; the driver's others are Redshift's own.
STARTUP_PASSED = {
    "user",
    "database",
    "application_name",
    "client_encoding",
    "DateStyle",
    "TimeZone",
}
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


def md5_password(password: str, user: str, salt: bytes) -> bytes:
    inner = hashlib.md5((password + user).encode()).hexdigest().encode()
    return b"md5" + hashlib.md5(inner + salt).hexdigest().encode()


def copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)
    if not isinstance(value, str):
        return str(value)
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Config:
    """Where the backend is, the passwords, and the S3 client factory.

    A client logs in with ``password`` (the warehouse role's), or as one of ``users`` with
    that user's own; the rehearsal then logs in to PostgreSQL as the same user with the
    same password, so PostgreSQL's grants decide what the session may do.
    """

    def __init__(
        self,
        *,
        backend_host: str,
        backend_port: int,
        password: str,
        users: dict[str, str] | None = None,
        s3=None,
        isolation: str = "read committed",
    ) -> None:
        if isolation not in ISOLATION_LEVELS:
            raise ValueError(f"isolation {isolation!r} is not one of {ISOLATION_LEVELS}")
        self.isolation = isolation
        self.backend_host = backend_host
        self.backend_port = backend_port
        self.password = password
        self.users = dict(users or {})
        self._s3 = s3
        self.installed: set[str] = set()
        self.lock = threading.Lock()

    def password_of(self, user: str) -> str:
        return self.users.get(user, self.password)

    def s3(self) -> Any:
        if self._s3 is None:
            import boto3

            # Endpoint, region and the stack's fake keys come from the environment.
            self._s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        return self._s3


def as_redshift_error(body: bytes) -> bytes:
    """An ErrorResponse body, with PostgreSQL's serialization failure in Redshift's form.

    Redshift reports it as ``C=XX000, M=1023, D=Serializable isolation violation on table
    ...``; clients (``sparkify.pipeline.serialization``) recognise it by ``M``. Every other
    error passes unchanged.
    """
    fields = wire.error_fields(body)
    if fields.get("C") != SERIALIZATION_SQLSTATE:
        return body
    detail = (
        "Serializable isolation violation on table (Redshift rehearsal: PostgreSQL said "
        f"{fields.get('M', '')!r}{': ' + fields['D'] if fields.get('D') else ''})"
    )
    parts = {"S": "ERROR", "V": "ERROR", "C": "XX000", "M": "1023", "D": detail}
    return b"".join(k.encode() + wire.cstring(v) for k, v in parts.items()) + b"\x00"


class BackendError(Exception):
    """The backend answered with an error: the ErrorResponse to pass on, and its status."""

    def __init__(self, error: bytes, status: bytes) -> None:
        super().__init__(wire.error_fields(error[5:]).get("M", "error"))
        self.error = error
        self.status = status


class Session:
    """One client connection and its backend connection."""

    def __init__(self, client: socket.socket, config: Config) -> None:
        self.client = client
        self.config = config
        self.backend: socket.socket | None = None
        self.user = self.database = ""
        self.status = b"I"  # the backend's transaction status at its last ReadyForQuery
        self.copy_statements: dict[str, str] = {}
        self.copy_portals: dict[str, str] = {}
        self.side: Any = None  # psycopg connection for the error tables, opened when needed
        self.super_columns: set[str] = set()  # columns this session declared SUPER

    # -- startup ----------------------------------------------------------------------
    def run(self) -> None:
        # Messages are relayed as they come: without TCP_NODELAY every small reply waited on
        # Nagle's algorithm and delayed ACKs, about 97 ms a statement; 0.8 ms with it.
        self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if not self.startup():
                return
            self.relay()
        except (wire.Closed, wire.ProtocolViolation, ConnectionError, OSError):
            pass
        finally:
            for sock in (self.backend, self.client):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
            if self.side is not None:
                with contextlib.suppress(Exception):
                    self.side.close()

    def startup(self) -> bool:
        """The client's startup and login, bounded as PostgreSQL bounds them (see ``wire``):
        ``AUTHENTICATION_TIMEOUT`` in all, capped lengths; a protocol violation is answered
        with a FATAL ErrorResponse (08P01) and the connection closed."""
        deadline = time.monotonic() + AUTHENTICATION_TIMEOUT
        try:
            params = self.client_startup(deadline)
            if params is None:
                return False
            self.user = params.get("user", "")
            self.database = params.get("database") or self.user
            if not self.authenticate_client(deadline):
                return False
        except wire.ProtocolViolation as exc:
            self.client.sendall(wire.error_response(str(exc), wire.PROTOCOL_VIOLATION, "FATAL"))
            return False
        self.client.settimeout(None)
        passed = {k: v for k, v in params.items() if k in STARTUP_PASSED}
        passed["database"] = self.database
        passed["default_transaction_isolation"] = self.config.isolation
        self.backend = socket.create_connection(
            (self.config.backend_host, self.config.backend_port)
        )
        self.backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.backend.sendall(wire.startup_packet(passed))
        self.authenticate_backend()
        while True:  # ParameterStatus..., BackendKeyData, ReadyForQuery
            kind, body = wire.read_message(self.backend)
            if kind == b"S":
                name = body.split(b"\x00", 1)[0].decode()
                if name == "server_version":
                    body = wire.cstring(name) + wire.cstring(REDSHIFT_SERVER_VERSION)
            if kind == b"E":
                self.client.sendall(wire.message(kind, body))
                return False
            if kind == b"Z":
                self.status = body
                self.install_system_objects()
            self.client.sendall(wire.message(kind, body))
            if kind == b"Z":
                return True

    def client_startup(self, deadline: float) -> dict[str, str] | None:
        """The startup packet's parameters, after declining SSL and GSS encryption (once
        each); None for a cancel request (passed on to PostgreSQL)."""
        declined = set()
        while True:
            code, body = wire.read_startup(self.client, deadline=deadline)
            if code in (wire.SSL_REQUEST, wire.GSSENC_REQUEST) and code not in declined:
                declined.add(code)
                self.client.sendall(b"N")
                continue
            if code == wire.CANCEL_REQUEST and len(body) == 8:
                self.forward_cancel(body)
                return None
            if code >> 16 != 3:
                raise wire.ProtocolViolation(f"unsupported frontend protocol {code:#010x}")
            return wire.startup_params(body)

    def authenticate_client(self, deadline: float) -> bool:
        salt = secrets.token_bytes(4)
        self.client.sendall(wire.message(b"R", struct.pack("!I", 5) + salt))
        kind, body = wire.read_message(
            self.client, limit=wire.MAX_AUTH_MESSAGE_LENGTH, deadline=deadline
        )
        expected = md5_password(self.config.password_of(self.user), self.user, salt)
        if kind != b"p" or not secrets.compare_digest(body.rstrip(b"\x00"), expected):
            self.client.sendall(
                wire.error_response(
                    f'password authentication failed for user "{self.user}"', "28P01", "FATAL"
                )
            )
            return False
        return True

    def authenticate_backend(self) -> None:
        from scramp import ScramClient

        assert self.backend is not None
        scram = None
        while True:
            kind, body = wire.read_message(self.backend)
            if kind == b"E":
                raise ConnectionError(wire.error_fields(body).get("M", "backend refused login"))
            if kind != b"R":
                raise ConnectionError(f"unexpected {kind!r} during the backend's login")
            (code,) = struct.unpack("!I", body[:4])
            if code == 0:
                self.client.sendall(wire.message(b"R", body))
                return
            if code == 5:
                pw = md5_password(self.config.password_of(self.user), self.user, body[4:8])
                self.backend.sendall(wire.message(b"p", pw + b"\x00"))
            elif code == 3:
                password = self.config.password_of(self.user)
                self.backend.sendall(wire.message(b"p", wire.cstring(password)))
            elif code == 10:
                scram = ScramClient(
                    ["SCRAM-SHA-256"], self.user, self.config.password_of(self.user)
                )
                first = scram.get_client_first().encode()
                payload = wire.cstring("SCRAM-SHA-256") + struct.pack("!I", len(first)) + first
                self.backend.sendall(wire.message(b"p", payload))
            elif code == 11 and scram is not None:
                scram.set_server_first(body[4:].decode())
                self.backend.sendall(wire.message(b"p", scram.get_client_final().encode()))
            elif code == 12 and scram is not None:
                scram.set_server_final(body[4:].decode())
            else:
                raise ConnectionError(f"backend asks for authentication method {code}")

    def forward_cancel(self, body: bytes) -> None:
        with socket.create_connection(
            (self.config.backend_host, self.config.backend_port)
        ) as backend:
            payload = struct.pack("!I", wire.CANCEL_REQUEST) + body
            backend.sendall(struct.pack("!I", len(payload) + 4) + payload)

    # -- the side connection: system objects and load errors ----------------------------
    def side_connection(self) -> Any:
        if self.side is None:
            import psycopg

            self.side = psycopg.connect(
                host=self.config.backend_host,
                port=self.config.backend_port,
                user=self.user,
                password=self.config.password_of(self.user),
                dbname=self.database,
                autocommit=True,
            )
        return self.side

    def install_system_objects(self) -> None:
        if self.user in self.config.users:
            return  # a further user (a SELECT-only reader) may not create them
        with self.config.lock:
            if self.database in self.config.installed:
                return
            conn = self.side_connection()
            conn.execute("SELECT pg_advisory_lock(hashtext('sparkify-redshift-rehearsal'))")
            try:
                for sql in SYSTEM_OBJECTS:
                    conn.execute(sql)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext('sparkify-redshift-rehearsal'))")
            self.config.installed.add(self.database)

    def record_errors(self, errors: list[LoadError], query_id: int, table_oid: int) -> None:
        if not errors:
            return
        conn = self.side_connection()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO public.stl_load_errors (userid, slice, tbl, starttime, session, "
                "query, filename, line_number, colname, type, col_length, position, raw_line, "
                "raw_field_value, err_code, err_reason, is_partial, start_offset) VALUES "
                "(100, 0, %s, now() AT TIME ZONE 'UTC', pg_backend_pid(), %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s, 0, 0)",
                [
                    (
                        table_oid,
                        query_id,
                        e.filename,
                        e.line_number,
                        e.colname,
                        e.type,
                        e.col_length,
                        e.position,
                        e.raw_line,
                        e.raw_field_value,
                        e.err_code,
                        e.err_reason,
                    )
                    for e in errors
                ],
            )
            cur.executemany(
                "INSERT INTO public.sys_load_error_detail (user_id, query_id, transaction_id, "
                "session_id, database_name, table_id, start_time, file_name, line_number, "
                "column_name, column_type, column_length, position, error_code, error_message) "
                "VALUES (100, %s, 0, pg_backend_pid(), current_database(), %s, "
                "now() AT TIME ZONE 'UTC', %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        query_id,
                        table_oid,
                        e.filename,
                        e.line_number,
                        e.colname,
                        e.type,
                        e.col_length,
                        e.position,
                        e.err_code,
                        e.err_reason,
                    )
                    for e in errors
                ],
            )

    # -- relaying -----------------------------------------------------------------------
    def relay(self) -> None:
        batch: list[tuple[bytes, bytes]] = []
        while True:
            kind, body = wire.read_message(self.client)
            if kind == b"X":
                self.send_backend(wire.message(kind, body))
                return
            if kind == b"Q":
                sql = body[:-1].decode()
                if is_s3_copy(sql):
                    self.simple_copy(sql)
                else:
                    self.send_backend(wire.query(translate(sql, self.super_columns)))
                    self.relay_until_ready()
                continue
            if kind in b"PBDECH" and len(kind) == 1:
                batch.append((kind, body))
                if kind != b"H":
                    copying = self.is_copy_message(kind, body)
                    self.remember(kind, body, copying)
                    if not copying:
                        self.send_backend(self.translated(kind, body))
                continue
            if kind == b"S":
                copy_part = [m for m in batch if m[0] != b"H" and self.is_copy_message(*m)]
                if copy_part and len(copy_part) != len([m for m in batch if m[0] != b"H"]):
                    self.client.sendall(
                        wire.error_response(
                            "the Redshift rehearsal runs a COPY from S3 only alone in its batch",
                            "0A000",
                        )
                    )
                    self.send_backend(wire.message(b"S"))
                    self.relay_until_ready(forward=False)
                    self.client.sendall(wire.ready_for_query(self.status))
                elif copy_part:
                    self.extended_copy(copy_part)
                else:
                    self.send_backend(wire.message(b"S"))
                    self.relay_until_ready()
                batch = []
                continue
            self.send_backend(wire.message(kind, body))

    def remember(self, kind: bytes, body: bytes, copying: bool) -> None:
        """Which statement names and portals stand for a COPY from S3, as they are made."""
        names = [p.decode() for p in body.split(b"\x00")[:2]]
        if kind == b"P":
            if copying:
                self.copy_statements[names[0]] = names[1]
            else:
                self.copy_statements.pop(names[0], None)
        elif kind == b"B":
            if copying:
                self.copy_portals[names[0]] = names[1]
            else:
                self.copy_portals.pop(names[0], None)

    def translated(self, kind: bytes, body: bytes) -> bytes:
        if kind == b"P":
            name, rest = body.split(b"\x00", 1)
            sql, params = rest.split(b"\x00", 1)
            sql = translate(sql.decode(), self.super_columns).encode()
            body = name + b"\x00" + sql + b"\x00" + params
        return wire.message(kind, body)

    def is_copy_message(self, kind: bytes, body: bytes) -> bool:
        names = body.split(b"\x00")
        if kind == b"P":
            return is_s3_copy(names[1].decode())
        if kind == b"B":
            return names[1].decode() in self.copy_statements
        if kind in (b"D", b"C"):
            target = body[1:].split(b"\x00", 1)[0].decode()
            if body[:1] == b"S":
                return target in self.copy_statements
            return target in self.copy_portals
        if kind == b"E":
            return names[0].decode() in self.copy_portals
        return False

    def send_backend(self, data: bytes) -> None:
        assert self.backend is not None
        self.backend.sendall(data)

    def relay_until_ready(self, *, forward: bool = True) -> None:
        """Pass the backend's answers on up to its ReadyForQuery (and through COPY IN)."""
        assert self.backend is not None
        while True:
            kind, body = wire.read_message(self.backend)
            if kind == b"E":
                body = as_redshift_error(body)
            if forward:
                self.client.sendall(wire.message(kind, body))
            if kind == b"G" and forward:  # the client's own COPY FROM STDIN
                while True:
                    ckind, cbody = wire.read_message(self.client)
                    self.send_backend(wire.message(ckind, cbody))
                    if ckind in (b"c", b"f"):
                        break
            if kind == b"Z":
                self.status = body
                return

    def backend_query(self, sql: str) -> list[list[bytes | None]]:
        """Run ``sql`` on the client's backend connection for the rehearsal's own use."""
        assert self.backend is not None
        self.send_backend(wire.query(sql))
        rows, error = [], None
        while True:
            kind, body = wire.read_message(self.backend)
            if kind == b"D":
                (count,) = struct.unpack("!H", body[:2])
                pos, row = 2, []
                for _ in range(count):
                    (size,) = struct.unpack("!i", body[pos : pos + 4])
                    pos += 4
                    row.append(None if size < 0 else body[pos : pos + size])
                    pos += max(size, 0)
                rows.append(row)
            elif kind == b"E":
                error = wire.message(kind, body)
            elif kind == b"Z":
                self.status = body
                if error is not None:
                    raise BackendError(error, body)
                return rows

    # -- COPY from S3 ---------------------------------------------------------------------
    def simple_copy(self, sql: str) -> None:
        try:
            tag = self.run_copy(sql)
        except BackendError as exc:
            self.client.sendall(exc.error + wire.ready_for_query(exc.status))
            return
        self.client.sendall(wire.command_complete(tag) + wire.ready_for_query(self.status))

    def extended_copy(self, messages: list[tuple[bytes, bytes]]) -> None:
        out = bytearray()
        failed = False
        for kind, body in messages:
            if failed:
                continue  # after an error the rest of the batch is skipped, up to Sync
            if kind == b"P":
                out += wire.message(b"1")
            elif kind == b"D":
                if body[:1] == b"S":
                    out += wire.message(b"t", struct.pack("!H", 0))
                out += wire.message(b"n")
            elif kind == b"B":
                out += wire.message(b"2")
            elif kind == b"E":
                portal = body.split(b"\x00", 1)[0].decode()
                try:
                    tag = self.run_copy(self.copy_statements[self.copy_portals[portal]])
                except BackendError as exc:
                    out += exc.error
                    failed = True
                else:
                    out += wire.command_complete(tag)
            elif kind == b"C":
                target = body[1:].split(b"\x00", 1)[0].decode()
                (self.copy_statements if body[:1] == b"S" else self.copy_portals).pop(target, None)
                out += wire.message(b"3")
        self.client.sendall(bytes(out) + wire.ready_for_query(self.status))

    def fail_statement(self, message_text: str, sqlstate: str) -> None:
        """Fail the backend's statement (``FAIL_STATEMENT``), so that its transaction fails
        as Redshift's, and raise ``BackendError`` with ``message_text`` in an ErrorResponse
        of the rehearsal's own: the text (it may quote an S3 key or a manifest's URL) is
        never SQL."""
        code = sqlstate if re.fullmatch(r"[0-9A-Z]{5}", sqlstate) else "XX000"
        try:
            self.backend_query(FAIL_STATEMENT)
        except BackendError as exc:
            raise BackendError(wire.error_response(message_text, code), exc.status) from None
        raise AssertionError("unreachable: FAIL_STATEMENT raises")

    def target_columns(self, table: str, names: list[str] | None) -> tuple[int, list[Column]]:
        rows = self.backend_query(
            "SELECT a.attrelid::oid::int, a.attname, format_type(a.atttypid, a.atttypmod), "
            "a.attnotnull FROM pg_attribute AS a "
            f"WHERE a.attrelid = to_regclass({quote_literal(quote_ident(table))}) "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        )
        if not rows:
            raise CopyError(f'relation "{table}" does not exist', sqlstate="42P01")
        oid = int(rows[0][0] or 0)
        columns = {
            r[1].decode(): Column(r[1].decode(), r[2].decode(), r[3] == b"t")
            for r in rows
            if r[1] and r[2]
        }
        if names is None:
            return oid, list(columns.values())
        missing = [n for n in names if n not in columns]
        if missing:
            raise CopyError(
                f'column "{missing[0]}" of relation "{table}" does not exist', sqlstate="42703"
            )
        return oid, [columns[n] for n in names]

    def run_copy(self, sql: str) -> str:
        """Carry out a Redshift COPY on the backend connection; returns the command tag.

        Errors are raised as ``BackendError``, the backend's own transaction having failed.
        """
        try:
            return self._run_copy(sql)
        except BackendError:
            raise
        except CopyError as exc:
            log.info("COPY failed: %s", exc)
            self.fail_statement(str(exc), exc.sqlstate)
        except Exception as exc:  # S3 unreachable, and the like: the statement fails
            log.exception("COPY failed")
            self.fail_statement(f"COPY failed: {exc}", "XX000")
        raise AssertionError("unreachable: fail_statement raises")

    def _run_copy(self, sql: str) -> str:
        command = parse_copy(sql)
        s3 = self.config.s3()
        table_oid, columns = self.target_columns(command.table, command.columns)
        uris = sources(s3, command)
        paths = None
        if command.json.lower().startswith("s3://"):
            paths = jsonpaths(s3, command.json)
        elif command.json and command.json.strip().lower() not in ("auto", "auto ignorecase"):
            raise CopyError(f"JSON argument {command.json!r} is not valid", sqlstate="22023")
        loader = Loader(command, columns, paths)
        (query_id,) = (
            self.side_connection().execute("SELECT nextval('public.rehearsal_query_id')").fetchone()
        )
        # The load begins: pg_last_copy_id() names it even if it fails (as on Redshift).
        self.backend_query(
            f"SELECT set_config('rehearsal.last_copy_id', '{int(query_id)}', false), "
            "set_config('rehearsal.last_copy_count', '0', false)"
        )
        cols = ", ".join(quote_ident(c.name) for c in columns)
        self.send_backend(wire.query(f"COPY {quote_ident(command.table)} ({cols}) FROM STDIN"))
        kind, body = wire.read_message(self.backend)  # type: ignore[arg-type]
        if kind != b"G":
            error = wire.message(kind, body)
            while kind != b"Z":
                kind, body = wire.read_message(self.backend)  # type: ignore[arg-type]
            self.status = body
            raise BackendError(error, body)
        try:
            for uri in uris:
                data = self._fetch(s3, uri)
                if command.gzip:
                    data = gzip.decompress(data)
                buffer = bytearray()
                for row in loader.rows_of(uri, data):
                    line = "\t".join(copy_text(v) for v in row) + "\n"
                    buffer += line.encode("utf-8", "surrogateescape")
                    if len(buffer) > 1 << 16:
                        self.send_backend(wire.copy_data(bytes(buffer)))
                        buffer.clear()
                if buffer:
                    self.send_backend(wire.copy_data(bytes(buffer)))
            self.record_errors(loader.errors, int(query_id), table_oid)
            if len(loader.errors) > command.max_errors:
                raise CopyError(
                    f"Load into table '{command.table}' failed. Check 'stl_load_errors' "
                    "system table for details.",
                    loading=True,
                )
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            self.send_backend(wire.copy_fail(reason))
            self._finish_copy()
            raise AssertionError("unreachable: the backend refused the COPY") from exc
        self.send_backend(wire.copy_done())
        self._finish_copy()
        self.backend_query(
            f"SELECT set_config('rehearsal.last_copy_count', '{loader.rows}', false)"
        )
        log.info(
            "COPY %s: %d row(s) from %d object(s), %d error(s)",
            command.table,
            loader.rows,
            len(uris),
            len(loader.errors),
        )
        return "COPY"

    def _fetch(self, s3: Any, uri: str) -> bytes:
        bucket, _, key = uri[5:].partition("/")
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def _finish_copy(self) -> None:
        error = None
        while True:
            kind, body = wire.read_message(self.backend)  # type: ignore[arg-type]
            if kind == b"E":
                error = wire.message(kind, body)
            if kind == b"Z":
                self.status = body
                if error is not None:
                    raise BackendError(error, body)
                return


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        Session(self.request, self.server.config).run()  # type: ignore[attr-defined]


class RehearsalServer(socketserver.ThreadingTCPServer):
    """The rehearsal's listening socket; one thread per client connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], config: Config) -> None:
        super().__init__(address, _Handler)
        self.config = config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The local Redshift rehearsal endpoint")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend-host", default="127.0.0.1")
    parser.add_argument("--backend-port", type=int, required=True)
    parser.add_argument(
        "--isolation",
        choices=ISOLATION_LEVELS,
        default=os.environ.get(ISOLATION_ENV, "read committed"),
        help=f"the sessions' isolation level (default: ${ISOLATION_ENV} or read committed)",
    )
    args = parser.parse_args(argv)
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        parser.error(f"${PASSWORD_ENV} must hold the warehouse role's password")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = Config(
        backend_host=args.backend_host,
        backend_port=args.backend_port,
        password=password,
        users=json.loads(os.environ.get(USERS_ENV) or "{}"),
        isolation=args.isolation,
    )
    server = RehearsalServer((args.host, args.port), config)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("Redshift rehearsal on %s:%d -> PostgreSQL %s:%d", args.host, args.port,
             args.backend_host, args.backend_port)  # fmt: skip
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
