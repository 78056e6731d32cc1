"""The rehearsal's framing before a client has logged in, and its failed COPY's message.

The framing: every length word is checked before its body is read (PostgreSQL's caps), the
whole login is bounded in time, and a violation is answered with FATAL 08P01 by a real
rehearsal server on 127.0.0.1 (no PostgreSQL: it is reached only after the login).
``fail_statement``: the message, whatever it holds, travels in an ErrorResponse, never in SQL.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from sparkify.local.redshift import server as rehearsal
from sparkify.local.redshift import wire

PASSWORD = "rehearsal-password"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(peer, ours): what ``peer`` sends, the functions under test read from ``ours``; a
    read that waited for a body that never comes fails the test after 2 s, not hangs."""
    peer, ours = socket.socketpair()
    ours.settimeout(2)
    yield peer, ours
    peer.close()
    ours.close()


# -- lengths ---------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [-1, -(2**31), 0, 3])
def test_a_negative_or_too_small_length_is_refused(length: int) -> None:
    with pytest.raises(wire.ProtocolViolation, match="invalid length"):
        wire.body_length(length, minimum=0, limit=100, what="x")


def test_lengths_within_the_bounds_pass_and_one_byte_more_does_not() -> None:
    assert wire.body_length(4, minimum=0, limit=100, what="x") == 0
    assert wire.body_length(104, minimum=0, limit=100, what="x") == 100
    with pytest.raises(wire.ProtocolViolation):
        wire.body_length(105, minimum=0, limit=100, what="x")
    with pytest.raises(wire.ProtocolViolation):
        wire.body_length(7, minimum=4, limit=100, what="x")  # a startup packet needs its code


@pytest.mark.parametrize("length", [2**31 - 1, 10_005, -8, 4, 7])
def test_a_startup_packet_out_of_bounds_is_refused_before_its_body_is_read(pair, length):
    peer, ours = pair
    peer.sendall(struct.pack("!i", length))  # and no body: reading one would time out
    started = time.monotonic()
    with pytest.raises(wire.ProtocolViolation, match="invalid length of startup packet"):
        wire.read_startup(ours)
    assert time.monotonic() - started < 1


def test_a_startup_packet_of_the_maximum_length_is_read(pair) -> None:
    peer, ours = pair
    body = struct.pack("!I", wire.PROTOCOL_3) + b"u" * (wire.MAX_STARTUP_PACKET_LENGTH - 4)
    peer.sendall(struct.pack("!i", len(body) + 4) + body)
    code, rest = wire.read_startup(ours)
    assert code == wire.PROTOCOL_3
    assert len(rest) == wire.MAX_STARTUP_PACKET_LENGTH - 4


@pytest.mark.parametrize("length", [65_540, 2**31 - 1, 3, -1])
def test_a_password_message_out_of_bounds_is_refused_before_its_body_is_read(pair, length):
    peer, ours = pair
    peer.sendall(b"p" + struct.pack("!i", length))
    with pytest.raises(wire.ProtocolViolation, match="invalid length of message b'p'"):
        wire.read_message(ours, limit=wire.MAX_AUTH_MESSAGE_LENGTH)


def test_any_message_claiming_more_than_postgresql_allows_is_refused(pair) -> None:
    peer, ours = pair
    peer.sendall(b"Q" + struct.pack("!i", wire.MAX_MESSAGE_LENGTH + 5))
    with pytest.raises(wire.ProtocolViolation):
        wire.read_message(ours)
    peer.sendall(wire.query("SELECT 1"))
    assert wire.read_message(ours) == (b"Q", b"SELECT 1\x00")


def test_a_deadline_bounds_a_read_of_bytes_that_trickle_in(pair) -> None:
    peer, ours = pair
    peer.sendall(struct.pack("!i", 100) + b"\x00\x03")  # then nothing more
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        wire.read_startup(ours, deadline=time.monotonic() + 0.3)
    assert time.monotonic() - started < 1.5


def test_startup_parameters_that_are_not_utf8_are_a_violation() -> None:
    assert wire.startup_params(b"user\x00me\x00\x00") == {"user": "me"}
    with pytest.raises(wire.ProtocolViolation, match="not UTF-8"):
        wire.startup_params(b"user\x00\xff\xfe\x00\x00")


def test_a_nul_in_an_error_message_cannot_end_its_field() -> None:
    response = wire.error_response("key a\x00Cbad", "58030")
    fields = wire.error_fields(response[5:])
    assert fields["M"] == "key a\ufffdCbad"
    assert fields["C"] == "58030"


# -- the server, before the login -------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[int]:
    """A rehearsal server on a free port of 127.0.0.1 whose backend is never reached."""
    config = rehearsal.Config(backend_host="127.0.0.1", backend_port=1, password=PASSWORD)
    srv = rehearsal.RehearsalServer(("127.0.0.1", 0), config)
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
    monkeypatch.setattr(rehearsal, "AUTHENTICATION_TIMEOUT", 0.5)
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        sock.sendall(startup())
        started = time.monotonic()
        received = b""
        while chunk := sock.recv(65536):  # the password request, then the end
            received += chunk
    assert received.startswith(b"R")
    assert time.monotonic() - started < 3


# -- a failed COPY's message ---------------------------------------------------------------------
HOSTILE = [
    "s3://b/x$rehearsal$; DROP TABLE t; --",
    "s3://b/\\''; EXCEPTION WHEN others THEN NULL; END $rehearsal$; DROP TABLE t; --",
    "$$ ; SELECT 1; $$ $r0123456789abcdef$ $ $$$ '' \\ ;",
    "the manifest's mandatory file s3://b/k\x00ey does not exist",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_failed_copys_message_travels_in_an_error_response_never_in_sql(text) -> None:
    sent: list[str] = []

    def backend_query(sql: str) -> list:
        sent.append(sql)
        error = wire.error_response("the Redshift rehearsal failed a COPY", "P0001")
        raise rehearsal.BackendError(error, b"E")

    session = rehearsal.Session(None, None)  # type: ignore[arg-type]
    session.backend_query = backend_query  # type: ignore[method-assign]
    with pytest.raises(rehearsal.BackendError) as caught:
        session.fail_statement(text, "58030")
    assert sent == [rehearsal.FAIL_STATEMENT]  # the same constant SQL, whatever the text
    fields = wire.error_fields(caught.value.error[5:])
    assert fields["M"] == text.replace("\x00", "\ufffd")
    assert (fields["S"], fields["C"]) == ("ERROR", "58030")
    assert caught.value.status == b"E"
    assert caught.value.error[:1] == b"E"
    (length,) = struct.unpack("!i", caught.value.error[1:5])
    assert length == len(caught.value.error) - 1


def test_a_malformed_sqlstate_becomes_xx000() -> None:
    def backend_query(sql: str) -> list:
        raise rehearsal.BackendError(wire.error_response("x"), b"I")

    session = rehearsal.Session(None, None)  # type: ignore[arg-type]
    session.backend_query = backend_query  # type: ignore[method-assign]
    with pytest.raises(rehearsal.BackendError) as caught:
        session.fail_statement("m", "58'; X")
    assert wire.error_fields(caught.value.error[5:])["C"] == "XX000"
