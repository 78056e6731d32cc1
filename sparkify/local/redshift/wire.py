"""PostgreSQL wire protocol (v3) framing, as much as the rehearsal's proxy needs.

Every length word read is checked before anything is read after it, against PostgreSQL's
own bounds: a startup packet's body (after its length word) is 4 to
``MAX_STARTUP_PACKET_LENGTH`` bytes, a typed message's body at most ``limit`` (the
password message before authentication ``MAX_AUTH_MESSAGE_LENGTH``, any other message
``MAX_MESSAGE_LENGTH``), never negative. A length out of bounds raises
``ProtocolViolation`` (SQLSTATE ``08P01``) at once; the claimed length is never allocated,
and a body is read in chunks of at most 64 KiB as its bytes arrive. ``deadline`` (a
``time.monotonic()`` value) bounds the time a read may take in all.
"""

from __future__ import annotations

import socket
import struct
import time

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
PROTOCOL_3 = 196608
PROTOCOL_VIOLATION = "08P01"
# PostgreSQL's MAX_STARTUP_PACKET_LENGTH (src/include/libpq/pqcomm.h).
MAX_STARTUP_PACKET_LENGTH = 10_000
# PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH (src/backend/libpq/auth.c): a password message.
MAX_AUTH_MESSAGE_LENGTH = 65_535
# PostgreSQL's PQ_LARGE_MESSAGE_LIMIT (MaxAllocSize - 1): the most any message may claim.
MAX_MESSAGE_LENGTH = 0x3FFF_FFFF - 1


class Closed(Exception):
    """The peer closed its end of the connection."""


class ProtocolViolation(Exception):
    """The peer broke the protocol (a length out of bounds, a malformed packet)."""


def recv_exact(sock: socket.socket, n: int, *, deadline: float | None = None) -> bytes:
    """``n`` bytes from ``sock``; ``TimeoutError`` once ``deadline`` has passed."""
    chunks, remaining = [], n
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the peer took too long")
            sock.settimeout(left)
        chunk = sock.recv(min(remaining, 1 << 16))
        if not chunk:
            raise Closed()
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def body_length(length: int, *, minimum: int, limit: int, what: str) -> int:
    """The length of the body after a length word ``length`` (which counts its own four
    bytes), if it is ``minimum`` to ``limit``; else ``ProtocolViolation``."""
    body = length - 4
    if body < minimum or body > limit:
        raise ProtocolViolation(f"invalid length of {what}: {length}")
    return body


def read_startup(sock: socket.socket, *, deadline: float | None = None) -> tuple[int, bytes]:
    """A startup-phase packet (no type byte): its code and the rest."""
    (length,) = struct.unpack("!i", recv_exact(sock, 4, deadline=deadline))
    size = body_length(length, minimum=4, limit=MAX_STARTUP_PACKET_LENGTH, what="startup packet")
    body = recv_exact(sock, size, deadline=deadline)
    (code,) = struct.unpack("!I", body[:4])
    return code, body[4:]


def read_message(
    sock: socket.socket, *, limit: int = MAX_MESSAGE_LENGTH, deadline: float | None = None
) -> tuple[bytes, bytes]:
    """One typed message: ``(type byte, body)``, the body at most ``limit`` bytes."""
    head = recv_exact(sock, 5, deadline=deadline)
    (length,) = struct.unpack("!i", head[1:])
    size = body_length(length, minimum=0, limit=limit, what=f"message {head[:1]!r}")
    return head[:1], recv_exact(sock, size, deadline=deadline)


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def cstring(text: str) -> bytes:
    return text.encode() + b"\x00"


def split_cstrings(body: bytes) -> list[str]:
    return [part.decode() for part in body.split(b"\x00")]


def startup_params(body: bytes) -> dict[str, str]:
    """A startup packet's parameters; ``ProtocolViolation`` if they are not UTF-8."""
    parts = body.rstrip(b"\x00").split(b"\x00")
    try:
        return {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2)}
    except UnicodeDecodeError:
        raise ProtocolViolation("invalid startup packet layout: not UTF-8") from None


def startup_packet(params: dict[str, str]) -> bytes:
    body = struct.pack("!I", PROTOCOL_3)
    body += b"".join(cstring(k) + cstring(v) for k, v in params.items()) + b"\x00"
    return struct.pack("!I", len(body) + 4) + body


def error_response(message_text: str, sqlstate: str = "XX000", severity: str = "ERROR") -> bytes:
    """An ErrorResponse; a NUL in ``message_text`` (which would end its field) becomes U+FFFD."""
    message_text = message_text.replace("\x00", "\ufffd")
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
    return message(b"f", cstring(reason.replace("\x00", "\ufffd")))
