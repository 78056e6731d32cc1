"""One client connection of the Redshift rehearsal, and its backend connection.

``Session`` takes the client's startup packet (leaving out the driver's Redshift-only
parameters, reporting ``server_version`` as Redshift's), authenticates the client (md5,
against the role's password) and then itself to PostgreSQL (SCRAM), the login bounded as
PostgreSQL bounds it (``wire``); installs the system objects (``translate``); then relays
the simple and the extended query protocol, every statement translated (``translate``),
and carries out a COPY from S3 itself (``load``). What the rehearsal does: ``server``.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import socket
import struct
import time
from typing import TYPE_CHECKING, Any

from sparkify.local.redshift import wire
from sparkify.local.redshift.copy import is_s3_copy
from sparkify.local.redshift.errors import BackendError, as_redshift_error
from sparkify.local.redshift.load import CopyMixin
from sparkify.local.redshift.translate import SYSTEM_OBJECTS, translate

if TYPE_CHECKING:
    from sparkify.local.redshift.server import Config

REDSHIFT_SERVER_VERSION = "8.0.2"
# PostgreSQL's authentication_timeout: a client has this long to start up and log in.
AUTHENTICATION_TIMEOUT = 60.0
# Startup parameters PostgreSQL takes; the driver's others are Redshift's own.
STARTUP_PASSED = {
    "user",
    "database",
    "application_name",
    "client_encoding",
    "DateStyle",
    "TimeZone",
}


def md5_password(password: str, user: str, salt: bytes) -> bytes:
    inner = hashlib.md5((password + user).encode()).hexdigest().encode()
    return b"md5" + hashlib.md5(inner + salt).hexdigest().encode()


class Session(CopyMixin):
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

    # -- the side connection: system objects, and load errors (``load``) ------------------
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
