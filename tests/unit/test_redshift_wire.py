"""The rehearsal's framing before a client has logged in (``wire``).

Every length word is checked before its body is read (PostgreSQL's caps), and a read is
bounded in time. The server's answers to violations: ``test_redshift_session.py``.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

from sparkify.local.redshift import wire


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
