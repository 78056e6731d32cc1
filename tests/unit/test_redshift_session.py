"""A session before its client has logged in (``session``).

A violation of the framing (``wire``) is answered with FATAL 08P01, a wrong password with
28P01, and the whole login is bounded in time, by a real rehearsal server on 127.0.0.1 (no
PostgreSQL: it is reached only after the login).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from sparkify.local.redshift import session, wire
from sparkify.local.redshift.server import Config, RehearsalServer

PASSWORD = "rehearsal-password"


# -- the server, before the login -------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[int]:
    """A rehearsal server on a free port of 127.0.0.1 whose backend is never reached."""
    config = Config(backend_host="127.0.0.1", backend_port=1, password=PASSWORD)
    srv = RehearsalServer(("127.0.0.1", 0), config)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, then everything the server answers until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def last_error(received: bytes) -> dict[str, str]:
    at = received.rindex(b"E")
    (length,) = struct.unpack("!i", received[at + 1 : at + 5])
    assert at + 1 + length == len(received), "the error is the last message"
    return wire.error_fields(received[at + 5 :])


def startup(user: str = "warehouse") -> bytes:
    return wire.startup_packet({"user": user, "database": "dw"})


@pytest.mark.parametrize("length", [2**31 - 1, -5, 6, 10_005])
def test_the_server_answers_a_bad_startup_length_with_08p01_and_closes(server, length) -> None:
    # The length word alone: bytes sent after it, which the server never reads, would make
    # its close a reset that discards the answer (PostgreSQL's own server answers nothing).
    fields = last_error(exchange(server, struct.pack("!i", length)))
    assert (fields["S"], fields["C"]) == ("FATAL", "08P01")
    assert "invalid length of startup packet" in fields["M"]


@pytest.mark.parametrize("length", [2**31 - 1, 65_540, -1, 2])
def test_the_server_answers_a_bad_password_length_with_08p01_and_closes(server, length) -> None:
    received = exchange(server, startup() + b"p" + struct.pack("!i", length))
    assert received.startswith(b"R")  # asked for the password first
    fields = last_error(received)
    assert (fields["S"], fields["C"]) == ("FATAL", "08P01")
    assert "invalid length of message b'p'" in fields["M"]


def test_the_server_declines_ssl_once_and_refuses_a_second_request(server) -> None:
    ssl = struct.pack("!ii", 8, wire.SSL_REQUEST)
    received = exchange(server, ssl + ssl)
    assert received[:1] == b"N"
    fields = last_error(received[1:])
    assert fields["C"] == "08P01"
    assert "unsupported frontend protocol" in fields["M"]


def test_the_server_refuses_a_wrong_password_and_still_serves(server) -> None:
    wrong = wire.message(b"p", b"md5" + b"0" * 32 + b"\x00")
    fields = last_error(exchange(server, startup() + wrong))
    assert fields["C"] == "28P01"
    received = exchange(server, startup() + b"p" + struct.pack("!i", -1))
    assert last_error(received)["C"] == "08P01"


def test_a_client_that_does_not_log_in_in_time_is_disconnected(server, monkeypatch) -> None:
    monkeypatch.setattr(session, "AUTHENTICATION_TIMEOUT", 0.5)
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        sock.sendall(startup())
        started = time.monotonic()
        received = b""
        while chunk := sock.recv(65536):  # the password request, then the end
            received += chunk
    assert received.startswith(b"R")
    assert time.monotonic() - started < 3
