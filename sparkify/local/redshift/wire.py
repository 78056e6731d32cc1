"""PostgreSQL wire protocol (v3) framing, as much as the rehearsal's proxy needs."""

from __future__ import annotations

import socket
import struct

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
PROTOCOL_3 = 196608


class Closed(Exception):
    """The peer closed its end of the connection."""


def recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, remaining = [], n
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 16))
        if not chunk:
            raise Closed()
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_startup(sock: socket.socket) -> tuple[int, bytes]:
    """A startup-phase packet (no type byte): its code and the rest."""
    (length,) = struct.unpack("!I", recv_exact(sock, 4))
    body = recv_exact(sock, length - 4)
    (code,) = struct.unpack("!I", body[:4])
    return code, body[4:]


def read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    """One typed message: ``(type byte, body)``."""
    head = recv_exact(sock, 5)
    (length,) = struct.unpack("!I", head[1:])
    return head[:1], recv_exact(sock, length - 4)


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def cstring(text: str) -> bytes:
    return text.encode() + b"\x00"


def split_cstrings(body: bytes) -> list[str]:
    return [part.decode() for part in body.split(b"\x00")]


def startup_params(body: bytes) -> dict[str, str]:
    parts = body.rstrip(b"\x00").split(b"\x00")
    return {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2)}


def startup_packet(params: dict[str, str]) -> bytes:
    body = struct.pack("!I", PROTOCOL_3)
    body += b"".join(cstring(k) + cstring(v) for k, v in params.items()) + b"\x00"
    return struct.pack("!I", len(body) + 4) + body


def error_response(message_text: str, sqlstate: str = "XX000", severity: str = "ERROR") -> bytes:
    fields = (
        b"S" + cstring(severity) + b"V" + cstring(severity) + b"C" + cstring(sqlstate)
        + b"M" + cstring(message_text) + b"\x00"
    )  # fmt: skip
    return message(b"E", fields)


def error_fields(body: bytes) -> dict[str, str]:
    """An ErrorResponse's fields by code (``M`` the message, ``C`` the SQLSTATE)."""
    fields = {}
    for part in body.split(b"\x00"):
        if part:
            fields[part[:1].decode()] = part[1:].decode("utf-8", "replace")
    return fields


def ready_for_query(status: bytes) -> bytes:
    return message(b"Z", status)


def command_complete(tag: str) -> bytes:
    return message(b"C", cstring(tag))


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", cstring(name) + cstring(value))


def query(sql: str) -> bytes:
    return message(b"Q", cstring(sql))


def copy_data(data: bytes) -> bytes:
    return message(b"d", data)


def copy_done() -> bytes:
    return message(b"c")


def copy_fail(reason: str) -> bytes:
    return message(b"f", cstring(reason))
