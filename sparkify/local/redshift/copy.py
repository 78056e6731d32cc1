"""Redshift's ``COPY ... FROM 's3://...'``: the statement, and the S3 objects it names.

The first two of the three steps the rehearsal takes for a COPY, each testable without a
server: ``parse_copy`` reads the statement (and refuses what the rehearsal does not do,
rather than ignoring it), ``sources`` lists the S3 objects it names (a prefix, or a
manifest's entries) and ``jsonpaths`` reads a JSONPaths file. The third, the objects'
records or lines turned into rows or load errors, is ``rows``; ``load`` carries a COPY out
in a session.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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
_FLAGS = {"MANIFEST", "TRUNCATECOLUMNS", "GZIP", "IGNOREBLANKLINES"}
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
    json: str  # 'auto', 'auto ignorecase' or an s3:// JSONPaths URI; '' for the text format
    manifest: bool = False
    delimiter: str = "|"  # the text format's field delimiter
    ignore_blank_lines: bool = False
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
                raise CopyError(
                    "the rehearsal's COPY reads FORMAT AS JSON and the text format only",
                    sqlstate="0A000",
                )
            command.json = _string(take())
        elif option == "DELIMITER":
            if peek_word() == "AS":
                take()
            command.delimiter = _delimiter(_string(take()))
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
            command.ignore_blank_lines |= option == "IGNOREBLANKLINES"
        else:
            raise CopyError(f"the rehearsal does not carry out COPY option {option}", "0A000")
    if not command.iam_role:
        raise CopyError("COPY needs IAM_ROLE (no other authorization is accepted)", "42501")
    if command.json and "DELIMITER" in command.options:
        raise CopyError("DELIMITER is not valid with FORMAT AS JSON", sqlstate="42601")
    if not command.source.startswith("s3://"):
        raise CopyError("COPY FROM must name an s3:// location", sqlstate="22023")
    return command


def _delimiter(text: str) -> str:
    """A DELIMITER argument: one character, or its octal escape (``'\\037'``) or ``'\\t'``."""
    if re.fullmatch(r"\\[0-7]{3}", text):
        text = chr(int(text[1:], 8))
    elif text == "\\t":
        text = "\t"
    if len(text) != 1 or text == "\n":
        raise CopyError(f"DELIMITER must be a single character, not {text!r}", sqlstate="42601")
    return text


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
