"""Redshift's ``COPY ... FROM 's3://...' FORMAT AS JSON`` carried out by the rehearsal.

Three steps, each testable without a server: ``parse_copy`` reads the statement (and
refuses what the rehearsal does not do, rather than ignoring it), ``sources`` lists the S3
objects it names (a prefix, or a manifest's entries), and ``Loader`` turns their JSON
records into rows of the target columns, or load errors, with Redshift's documented rules:

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
  the whole COPY.

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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# -- the statement ------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<quoted>"(?:[^"]|"")+")
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)?)
      | (?P<number>\d+)
      | (?P<punct>[(),;])
    )""",
    re.VERBOSE,
)
_S3_COPY = re.compile(r"^\s*COPY\s.*?\bFROM\s+'s3://", re.IGNORECASE | re.DOTALL)
_KEY_OPTIONS = {"CREDENTIALS", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"}
_FLAGS = {"MANIFEST", "TRUNCATECOLUMNS", "GZIP"}
_IGNORED = {"COMPUPDATE", "STATUPDATE"}  # about compression and statistics: no effect here


class CopyError(Exception):
    """The COPY cannot be carried out; the message is sent to the client as the error."""

    def __init__(self, message: str, sqlstate: str = "XX000", *, loading: bool = False) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        # True once the load began (Redshift then updates pg_last_copy_id()).
        self.loading = loading


@dataclass
class CopyCommand:
    """What one ``COPY ... FROM 's3://...'`` statement asks for."""

    table: str
    columns: list[str] | None
    source: str
    iam_role: str
    json: str  # 'auto', 'auto ignorecase' or an s3:// JSONPaths URI
    manifest: bool = False
    max_errors: int = 0
    truncate_columns: bool = False
    accept_inv_chars: str | None = None  # the replacement character, when ACCEPTINVCHARS
    gzip: bool = False
    region: str | None = None
    options: list[str] = field(default_factory=list)


def is_s3_copy(sql: str) -> bool:
    """Whether ``sql`` is a Redshift COPY from S3 (which PostgreSQL cannot run)."""
    return bool(_S3_COPY.match(_strip_comments(sql)))


def _strip_comments(sql: str) -> str:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return "\n".join(lines)


def _tokens(sql: str) -> list[tuple[str, str]]:
    text = _strip_comments(sql).strip()
    pos, found = 0, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise CopyError(f"syntax error in COPY at: {text[pos : pos + 30]!r}", sqlstate="42601")
        kind = m.lastgroup or ""
        found.append((kind, m.group(kind)))
        pos = m.end()
    while found and found[-1] == ("punct", ";"):
        found.pop()
    return found


def _string(token: tuple[str, str]) -> str:
    kind, value = token
    if kind != "string":
        raise CopyError(f"expected a quoted string, found {value!r}", sqlstate="42601")
    return value[1:-1].replace("''", "'")


def _identifier(token: tuple[str, str]) -> str:
    kind, value = token
    if kind == "quoted":
        return value[1:-1].replace('""', '"')
    if kind == "word":
        return value.lower()
    raise CopyError(f"expected a name, found {value!r}", sqlstate="42601")


def parse_copy(sql: str) -> CopyCommand:
    """The parts of a Redshift ``COPY`` from S3 in JSON; raises ``CopyError`` otherwise."""
    toks = _tokens(sql)
    i = 0

    def take() -> tuple[str, str]:
        nonlocal i
        if i >= len(toks):
            raise CopyError("COPY statement ends too early", sqlstate="42601")
        i += 1
        return toks[i - 1]

    def peek_word() -> str:
        return toks[i][1].upper() if i < len(toks) and toks[i][0] == "word" else ""

    if take()[1].upper() != "COPY":
        raise CopyError("not a COPY statement", sqlstate="42601")
    table = _identifier(take())
    columns = None
    if i < len(toks) and toks[i] == ("punct", "("):
        take()
        columns = []
        while True:
            columns.append(_identifier(take()))
            sep = take()
            if sep == ("punct", ")"):
                break
            if sep != ("punct", ","):
                raise CopyError("bad column list in COPY", sqlstate="42601")
    if take()[1].upper() != "FROM":
        raise CopyError("COPY needs FROM", sqlstate="42601")
    source = _string(take())
    command = CopyCommand(table=table, columns=columns, source=source, iam_role="", json="")
    while i < len(toks):
        kind, word = take()
        option = word.upper()
        if kind != "word":
            raise CopyError(f"unexpected {word!r} in COPY", sqlstate="42601")
        command.options.append(option)
        if option in _KEY_OPTIONS:
            raise CopyError(
                f"{option} in a COPY statement: the rehearsal refuses access keys in SQL "
                "(they would be logged); use IAM_ROLE",
                sqlstate="42501",
            )
        if option == "IAM_ROLE":
            command.iam_role = _string(take())
        elif option == "FORMAT":
            if peek_word() == "AS":
                take()
            if take()[1].upper() != "JSON":
                raise CopyError("the rehearsal's COPY reads FORMAT AS JSON only", sqlstate="0A000")
            command.json = _string(take())
        elif option == "JSON":
            command.json = _string(take())
        elif option == "MAXERROR":
            if peek_word() == "AS":
                take()
            kind, value = take()
            if kind != "number":
                raise CopyError("MAXERROR needs a number", sqlstate="42601")
            command.max_errors = int(value)
        elif option == "ACCEPTINVCHARS":
            command.accept_inv_chars = "?"
            if peek_word() == "AS":
                take()
            if i < len(toks) and toks[i][0] == "string":
                command.accept_inv_chars = _string(take())
        elif option == "REGION":
            if peek_word() == "AS":
                take()
            command.region = _string(take())
        elif option in _IGNORED:
            if peek_word() in ("ON", "OFF", "TRUE", "FALSE", "PRESET"):
                take()
        elif option in _FLAGS:
            command.manifest |= option == "MANIFEST"
            command.truncate_columns |= option == "TRUNCATECOLUMNS"
            command.gzip |= option == "GZIP"
        else:
            raise CopyError(f"the rehearsal does not carry out COPY option {option}", "0A000")
    if not command.iam_role:
        raise CopyError("COPY needs IAM_ROLE (no other authorization is accepted)", "42501")
    if not command.json:
        raise CopyError("the rehearsal's COPY reads FORMAT AS JSON only", sqlstate="0A000")
    if not command.source.startswith("s3://"):
        raise CopyError("COPY FROM must name an s3:// location", sqlstate="22023")
    return command


# -- the objects --------------------------------------------------------------------------


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as ``(bucket, key)``."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise CopyError(f"not an S3 object URI: {uri!r}", sqlstate="22023")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _get(s3: Any, uri: str) -> bytes | None:
    bucket, key = split_uri(uri)
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    except Exception as exc:  # NoSuchBucket and the like: the same to COPY
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchBucket", "404"):
            return None
        raise


def sources(s3: Any, command: CopyCommand) -> list[str]:
    """The object URIs the COPY reads: the manifest's entries, or every key under the prefix.

    Fails, as Redshift does, when a prefix matches nothing or a mandatory entry is missing.
    """
    if command.manifest:
        body = _get(s3, command.source)
        if body is None:
            raise CopyError(f"the manifest {command.source} does not exist", sqlstate="58030")
        try:
            entries = json.loads(body)["entries"]
        except (ValueError, KeyError, TypeError):
            raise CopyError(f"the manifest {command.source} is not valid", "22P02") from None
        found = []
        for entry in entries:
            uri = entry["url"]
            bucket, key = split_uri(uri)
            try:
                s3.head_object(Bucket=bucket, Key=key)
            except Exception:
                if entry.get("mandatory", False):
                    raise CopyError(
                        f"the manifest's mandatory file {uri} does not exist", sqlstate="58030"
                    ) from None
                continue
            found.append(uri)
        if not found:
            raise CopyError(f"the manifest {command.source} names no file that exists", "58030")
        return found
    bucket, prefix = split_uri(command.source)
    keys = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", ()) if item["Size"] > 0]
    if not keys:
        raise CopyError(f"The specified S3 prefix '{prefix}' does not exist", sqlstate="58030")
    return [f"s3://{bucket}/{key}" for key in sorted(keys)]


def jsonpaths(s3: Any, uri: str) -> list[list[str | int]]:
    """The JSONPaths file's expressions, each as a list of keys and array indexes."""
    body = _get(s3, uri)
    if body is None:
        raise CopyError(f"the JSONPaths file {uri} does not exist", sqlstate="58030")
    try:
        paths = json.loads(body)["jsonpaths"]
    except (ValueError, KeyError, TypeError):
        raise CopyError(f"the JSONPaths file {uri} is not valid", sqlstate="22P02") from None
    return [parse_jsonpath(p) for p in paths]


_PATH_PART = re.compile(
    r"""\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[(\d+)\]"""
)


def parse_jsonpath(path: str) -> list[str | int]:
    """``$['a'].b[0]`` as ``['a', 'b', 0]``; wildcards and filters are refused, as by Redshift."""
    if not path.startswith("$"):
        raise CopyError(f"invalid JSONPath {path!r}", sqlstate="22P02")
    parts: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _PATH_PART.match(path, pos)
        if not m:
            raise CopyError(f"invalid JSONPath {path!r}", sqlstate="22P02")
        name, single, double, index = m.groups()
        parts.append(int(index) if index is not None else (name or single or double or ""))
        pos = m.end()
    if not parts:
        raise CopyError(f"invalid JSONPath {path!r}", sqlstate="22P02")
    return parts


# -- the records --------------------------------------------------------------------------


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
