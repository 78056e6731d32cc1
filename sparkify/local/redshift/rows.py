r"""Redshift's COPY: the records or lines of the S3 objects turned into rows, or load errors.

The last of the three steps the rehearsal takes for a COPY (``copy`` reads the statement
and lists the objects), testable without a server: ``Loader`` turns the objects' JSON
records (``FORMAT AS JSON``) or their lines (the text format, Redshift's default) into rows
of the target columns, or load errors, with Redshift's documented rules; ``copy_text``
writes a row's values in PostgreSQL's COPY text format, as ``load`` feeds them to the
backend.

The text format: a line ends at ``\n`` only; it is split at the ``DELIMITER`` (default
``|``) into exactly one field per column (fewer is error 1214, more 1214 too); ``\N``
loads NULL; backslashes are otherwise data (no ``ESCAPE``); with ``IGNOREBLANKLINES`` a line
holding nothing is skipped, otherwise it loads an empty field. Each field is converted as
below.

JSON:

- records are JSON objects, one after another (one a line, or spread over lines);
- ``'auto'`` maps a top-level key to the column of exactly that name, ``'auto ignorecase'``
  ignoring case; a JSONPaths file maps its N-th path to the N-th column of the list (the
  numbers must match); a key or path that is absent, or JSON ``null``, loads NULL;
- each value is converted to the column's type: integers (a fraction or non-digit is an
  error, code 1207; out of range, 1204), floats (1208), booleans (1210), timestamps (1206),
  character types (a string longer than the column's bytes is an error, 1204, unless
  TRUNCATECOLUMNS, which cuts it at a character boundary within the width; invalid UTF-8
  is an error, 1220, unless ACCEPTINVCHARS, which puts its replacement character, ``?`` by
  default, in place of each invalid byte); a value that is not JSON at all fails its line
  (1216); NULL into a NOT NULL column, 1213;
- a line that fails is left out and recorded; more errors than MAXERROR (default 0) fail
  the whole COPY (``load``).

Error rows carry ``stl_load_errors``' columns: the file, the line number (a record spread
over lines: its last line), the column, its type and length, the raw line (non-ASCII
characters replaced by ``.``, as Redshift does, at most 1024 characters), the raw field
value, the error code and a reason. The codes are Redshift's (Load error reference); the
reason texts are the rehearsal's own, not Redshift's exact words.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sparkify.local.redshift.copy import CopyCommand, CopyError


@dataclass(frozen=True)
class Column:
    """A target column: name, PostgreSQL type name (``format_type``), NOT NULL."""

    name: str
    type: str
    not_null: bool = False

    @property
    def kind(self) -> str:
        t = self.type
        if t in ("smallint", "integer", "bigint"):
            return t
        if t in ("double precision", "real") or t.startswith("numeric"):
            return "float"
        if t == "boolean":
            return "boolean"
        if t.startswith("timestamp") or t == "date":
            return "timestamp"
        return "text"

    @property
    def width(self) -> int | None:
        m = re.search(r"\((\d+)\)", self.type)
        return int(m.group(1)) if m and self.kind == "text" else None


@dataclass
class LoadError:
    """One line COPY refused: the columns of an ``stl_load_errors`` row."""

    filename: str
    line_number: int
    colname: str
    type: str
    col_length: str
    position: int
    raw_line: str
    raw_field_value: str
    err_code: int
    err_reason: str


_INT_RANGE = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}
_PG_TYPE_NAME = {
    "smallint": "int2",
    "integer": "int4",
    "bigint": "int8",
    "double precision": "float8",
    "real": "float4",
    "boolean": "bool",
}


class _FieldError(Exception):
    def __init__(self, code: int, reason: str, raw: str) -> None:
        self.code, self.reason, self.raw = code, reason, raw


def _raw_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _repair(text: str, replacement: str | None) -> str:
    """Lone surrogates stand for invalid UTF-8 bytes (``surrogateescape``)."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    if replacement is None:
        raise _FieldError(1220, "String contains invalid or unsupported UTF8 codepoints", text)
    return "".join(replacement if "\udc80" <= ch <= "\udcff" else ch for ch in text)


def convert(value: Any, column: Column, command: CopyCommand) -> Any:
    """``value`` (decoded JSON) as the column's value; raises ``_FieldError``."""
    if value is None:
        if column.not_null:
            raise _FieldError(1213, "Missing data for not-null field", "")
        return None
    kind = column.kind
    raw = _raw_text(value)
    if kind in _INT_RANGE:
        if isinstance(value, bool):
            raise _FieldError(1207, f"Invalid digit, Value '{raw[:1]}', Type: Integer", raw)
        if isinstance(value, float):
            if not value.is_integer():
                raise _FieldError(1207, "Invalid digit, Value '.', Type: Integer", raw)
            number = int(value)
        elif isinstance(value, int):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            number = int(value)
        else:
            bad = next((c for c in str(raw) if not (c.isdigit() or c in "+- ")), raw[:1])
            raise _FieldError(1207, f"Invalid digit, Value '{bad}', Type: Integer", raw)
        limit = _INT_RANGE[kind]
        if not -limit <= number < limit:
            raise _FieldError(1204, f"Overflow, {raw} is out of range for {kind}", raw)
        return number
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _FieldError(1208, "Invalid float value", raw)
        try:
            number = float(value)
        except ValueError:
            raise _FieldError(1208, "Invalid float value", raw) from None
        if isinstance(value, str) and not math.isfinite(number):
            raise _FieldError(1208, "Invalid float value", raw)
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = raw.strip().lower()
        if text in ("t", "true", "1", "y", "yes"):
            return True
        if text in ("f", "false", "0", "n", "no"):
            return False
        raise _FieldError(1210, "Invalid boolean value", raw)
    if kind == "timestamp":
        try:
            return datetime.fromisoformat(str(value)).replace(tzinfo=None)
        except ValueError:
            raise _FieldError(1206, "Invalid timestamp format", raw) from None
    text = _repair(raw, command.accept_inv_chars)
    if "\x00" in text:  # PostgreSQL cannot store NUL; Redshift takes it as an invalid char
        if command.accept_inv_chars is None:
            raise _FieldError(1220, "String contains invalid or unsupported UTF8 codepoints", raw)
        text = text.replace("\x00", command.accept_inv_chars)
    width = column.width
    if width is not None and len(text.encode("utf-8", "surrogatepass")) > width:
        if not command.truncate_columns:
            raise _FieldError(1204, "String length exceeds DDL length", raw)
        text = text.encode("utf-8")[:width].decode("utf-8", "ignore")
    return text


def _lookup(record: Any, path: list[str | int]) -> Any:
    value = record
    for part in path:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return None
            value = value[part]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        if value is None:
            return None
    return value


def _raw_line(text: str) -> str:
    return "".join(c if c.isascii() else "." for c in text)[:1024]


class Loader:
    """Rows of ``columns`` from JSON objects, and the errors of the lines that fail."""

    def __init__(
        self,
        command: CopyCommand,
        columns: list[Column],
        paths: list[list[str | int]] | None = None,
    ) -> None:
        self.command = command
        self.columns = columns
        self.paths = paths
        if paths is not None and len(paths) != len(columns):
            raise CopyError(
                f"Number of jsonpaths ({len(paths)}) and the number of columns "
                f"({len(columns)}) should match",
                sqlstate="22P02",
            )
        self.ignorecase = command.json.strip().lower() == "auto ignorecase"
        self.errors: list[LoadError] = []
        self.rows = 0

    def _values(self, record: dict[str, Any]) -> list[Any]:
        if self.paths is not None:
            return [_lookup(record, path) for path in self.paths]
        if self.ignorecase:
            lowered = {k.lower(): v for k, v in record.items()}
            return [lowered.get(c.name.lower()) for c in self.columns]
        return [record.get(c.name) for c in self.columns]

    def _error(self, uri: str, line: int, raw: str, column: Column | None, err: _FieldError):
        self.errors.append(
            LoadError(
                filename=uri[:256],
                line_number=line,
                colname=(column.name if column else "")[:127],
                type=(_PG_TYPE_NAME.get(column.type, column.type.split("(")[0]) if column else "")[
                    :10
                ],
                col_length=str(column.width or "") if column else "",
                position=0,
                raw_line=_raw_line(raw),
                raw_field_value=_raw_line(err.raw),
                err_code=err.code,
                err_reason=err.reason[:100],
            )
        )

    def rows_of(self, uri: str, data: bytes) -> Iterator[list[Any]]:
        """The rows of one object; its failed lines are added to ``errors``."""
        if not self.command.json:
            yield from self._text_rows(uri, data)
            return
        text = data.decode("utf-8", "surrogateescape")
        if text.startswith("\ufeff"):
            text = text[1:]
        decoder = json.JSONDecoder()
        pos, n = 0, len(text)
        # Line numbers are counted onwards from the last position, never from the start of
        # the object again (which made a large object's load quadratic in its size).
        counted_to, lines_before = 0, 0

        def line_at(at: int) -> int:
            nonlocal counted_to, lines_before
            lines_before += text.count("\n", counted_to, at)
            counted_to = at
            return lines_before + 1

        while True:
            while pos < n and text[pos] in " \t\r\n":
                pos += 1
            if pos >= n:
                return
            line = line_at(pos)
            try:
                record, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError:
                stop = text.find("\n", pos)
                stop = n if stop < 0 else stop
                raw = text[pos:stop]
                self._error(uri, line, raw, None, _FieldError(1216, "Invalid JSON object", raw))
                pos = stop
                continue
            last_line = line_at(end)
            raw = text[pos:end]
            pos = end
            if not isinstance(record, dict):
                err = _FieldError(1216, "Invalid JSON object: not an object", raw)
                self._error(uri, last_line, raw, None, err)
                continue
            row = []
            try:
                for column, value in zip(self.columns, self._values(record), strict=True):
                    current = column
                    row.append(convert(value, column, self.command))
            except _FieldError as err:
                self._error(uri, last_line, raw, current, err)
                continue
            self.rows += 1
            yield row

    def _text_rows(self, uri: str, data: bytes) -> Iterator[list[Any]]:
        """The text format: a row a line, split at the delimiter, ``\\N`` as NULL."""
        text = data.decode("utf-8", "surrogateescape")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the newline ending the last line ends no further line
        delimiter, width = self.command.delimiter, len(self.columns)
        for number, line in enumerate(lines, start=1):
            if line == "" and self.command.ignore_blank_lines:
                continue
            fields = line.split(delimiter)
            if len(fields) != width:
                reason = "Delimiter not found" if len(fields) < width else "Extra column(s) found"
                self._error(uri, number, line, None, _FieldError(1214, reason, line))
                continue
            row = []
            try:
                for column, value in zip(self.columns, fields, strict=True):
                    current = column
                    row.append(None if value == "\\N" else convert(value, column, self.command))
            except _FieldError as err:
                self._error(uri, number, line, current, err)
                continue
            self.rows += 1
            yield row


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
