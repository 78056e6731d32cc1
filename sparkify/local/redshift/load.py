"""Redshift's COPY from S3, carried out on a session's backend connection.

``CopyMixin`` is the part of ``session.Session`` that runs a COPY from S3, in the simple
and the extended query protocol: ``copy.parse_copy`` reads the statement, ``copy.sources``
lists the objects, ``rows.Loader`` turns them into rows, which go to ``COPY <table> (cols)
FROM STDIN`` on the client's own backend connection, so that the load is part of the
client's transaction. Refused lines go to ``stl_load_errors`` and ``sys_load_error_detail``
through the session's side connection, committed at once. A COPY that fails fails the
backend's statement (``FAIL_STATEMENT``) and reaches the client in an ErrorResponse of the
rehearsal's own: no error text is ever SQL.
"""

from __future__ import annotations

import gzip
import logging
import re
import socket
import struct
from typing import TYPE_CHECKING, Any

from sparkify.local.redshift import wire
from sparkify.local.redshift.copy import CopyError, jsonpaths, parse_copy, sources
from sparkify.local.redshift.errors import BackendError
from sparkify.local.redshift.rows import Column, Loader, LoadError, copy_text
from sparkify.local.redshift.translate import quote_ident, quote_literal

if TYPE_CHECKING:
    from sparkify.local.redshift.server import Config

log = logging.getLogger("sparkify.redshift")

# Fails a COPY's statement on the backend, so that its transaction fails as on Redshift; the
# client gets the rehearsal's own ErrorResponse in its place, so no error text goes into SQL.
FAIL_STATEMENT = "DO $$ BEGIN RAISE EXCEPTION 'the Redshift rehearsal failed a COPY'; END $$"


class CopyMixin:
    """COPY from S3 within a ``session.Session``: the session's sockets, its transaction
    status, its prepared COPY statements and portals, and its ``backend_query``,
    ``send_backend`` and ``side_connection`` are this class's to use."""

    client: socket.socket
    backend: socket.socket | None
    config: Config
    status: bytes
    copy_statements: dict[str, str]
    copy_portals: dict[str, str]

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
