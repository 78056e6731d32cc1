"""The Redshift rehearsal: a stand-in for an Amazon Redshift endpoint, on 127.0.0.1.

It speaks the PostgreSQL wire protocol to its clients (``redshift_connector``, through the
amazon provider's ``RedshiftSQLHook``) and forwards every message to the stack's real
PostgreSQL, one backend connection per client connection, except where PostgreSQL cannot
do what Redshift does:

- **Startup.** The Redshift-only startup parameters the driver sends
  (``client_protocol_version``, ``driver_version``, ``os_version``,
  ``driver_discovery_version``, ``plugin_name``, ...) are left out; PostgreSQL refuses them.
  ``server_version`` is reported as Redshift reports it (``8.0.2``): the driver parses it
  with ``packaging``, which cannot parse ``15.x (Debian ...)``.
- **Authentication.** The client is asked for an md5 password (the driver's SCRAM fails
  against PostgreSQL 15) and checked against the warehouse role's password; the rehearsal
  then logs in to PostgreSQL itself, with SCRAM. SSL is declined (``ssl: false`` in the
  connection's extra). Before the login succeeds, what a client can cost is bounded as
  PostgreSQL bounds it: 60 s in all (``authentication_timeout``), a startup packet of at
  most 10,000 bytes, a password message of at most 65,535, every length checked before its
  body is read (``wire``); a violation is answered with FATAL 08P01 and the connection closed.
- **COPY from S3.** ``COPY <table> [(cols)] FROM 's3://...' IAM_ROLE '...' [FORMAT AS JSON
  'auto' | 'auto ignorecase' | 's3://jsonpaths'] [DELIMITER 'c'] [IGNOREBLANKLINES]
  [MANIFEST] [MAXERROR n] [TRUNCATECOLUMNS] [ACCEPTINVCHARS] [REGION ...] [GZIP]`` (JSON, or
  Redshift's text format), in the simple and the extended query protocol,
  is carried out by the rehearsal (``sparkify.local.redshift.load``): it reads the objects
  from the stack's S3 endpoint (boto3, with the endpoint and the fake keys of the stack's
  environment; the IAM role is only checked for presence) and feeds the converted rows to
  ``COPY <table> (cols) FROM STDIN`` on the client's own backend connection, so the load
  is part of the client's transaction, committed or rolled back with it. Lines COPY
  refuses go to ``stl_load_errors`` and ``sys_load_error_detail`` through a separate
  connection, committed at once, as Redshift's system tables keep them whatever the
  transaction does. ``pg_last_copy_count()`` and ``pg_last_copy_id()`` read session
  settings the rehearsal sets after each COPY. A COPY that fails (more errors than
  MAXERROR, a prefix or manifest that matches nothing) fails the statement and aborts the
  transaction, as on Redshift; its message (which may quote S3 keys and URLs) reaches the
  client in an ErrorResponse of the rehearsal's own, never inside SQL.
- **DDL.** ``DISTSTYLE``, ``DISTKEY``, ``SORTKEY`` and ``ENCODE`` clauses are dropped from
  ``CREATE TABLE``; ``GETDATE()``, ``IS_VALID_JSON()`` and ``IS_VALID_JSON_ARRAY()`` exist
  as functions.
- **SUPER.** A column declared ``SUPER`` is PostgreSQL ``json``; navigating it by a quoted
  attribute (``doc."itemInSession"``) is ``doc -> 'itemInSession'``; object ``UNPIVOT`` is
  ``json_each``; ``JSON_PARSE``, ``CAN_JSON_PARSE``, ``JSON_SERIALIZE`` and
  ``JSON_EXTRACT_PATH_TEXT`` on text exist as functions (``JSON_TYPEOF`` is PostgreSQL's);
  ``SET enable_case_sensitive_identifier`` sets a placeholder (see ``translate``).

What it proves: the pipeline's Redshift path (the hook, the driver, its parameter binding,
the ``*.redshift.sql`` variants, Redshift's COPY statement with its manifest, JSONPaths and
options) runs end to end, in the transactions the code asks for, with COPY's line
accounting (loaded rows, refused lines, ``pg_last_copy_count()``, the error tables) as
Redshift documents it.

- **Isolation.** ``--isolation serializable`` (or ``$SPARKIFY_REDSHIFT_ISOLATION``) runs
  the sessions SERIALIZABLE, as Redshift's are, and PostgreSQL's serialization failure
  (SQLSTATE 40001) reaches the client in Redshift's form, error ``1023`` "Serializable
  isolation violation on table", so the pipeline's locks and retry are rehearsed
  (``tests/integration/test_redshift_concurrency.py``). The default is READ COMMITTED:
  under SERIALIZABLE a COPY's own transaction cannot see the ``stl_load_errors`` rows the
  rehearsal commits beside it, which Redshift's system tables, outside every snapshot, show.

What it cannot prove: performance, distribution and sort keys (dropped), which concurrent
transactions Redshift's serializable isolation aborts (PostgreSQL's SSI decides beneath,
with its own, row-level rules, while Redshift's conflicts are per table),
Redshift's exact error texts (the rehearsal's say what failed, with Redshift's load error
codes), IAM (no role is assumed), Redshift-only SQL beyond what the pipeline uses
(PostgreSQL rejects it, which the rehearsal reports as the error it is), SUPER's semantics
beyond what ``json`` mirrors, and SUPER, Parquet or CSV loads. Run it with
``python -m sparkify.local.redshift.server``; the password comes from
``$SPARKIFY_REDSHIFT_PASSWORD``, never from the command line.

The modules of ``sparkify.local.redshift``, one job each:

- ``server`` (this one): ``Config``, the listening ``RehearsalServer``, the command line;
- ``session``: one client connection and its backend connection: startup, authentication
  of the client (md5) and of the rehearsal to PostgreSQL (SCRAM), the relay of the simple
  and the extended query protocol, the system objects;
- ``wire``: the protocol's messages, and the bounds on what a client sends before its login;
- ``translate``: the SQL translation (DDL, SUPER, ``UNPIVOT``, ``REGEXP_REPLACE``), the
  system objects' SQL and the quoting helpers, pure functions;
- ``load``: a COPY from S3 carried out in a session (``CopyMixin``), and its load errors
  recorded;
- ``copy``: the COPY statement parsed, and the S3 objects it names (prefix, manifest,
  JSONPaths);
- ``rows``: the objects' JSON records or text lines as rows of the target columns, or load
  errors, with Redshift's conversion rules;
- ``errors``: the backend's errors as the client sees them (serialization failures in
  Redshift's form).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socketserver
import threading
from typing import Any

from sparkify.local.redshift.session import Session

log = logging.getLogger("sparkify.redshift")

PASSWORD_ENV = "SPARKIFY_REDSHIFT_PASSWORD"
# Further users, as JSON {"user": "password"} (the local stack's SELECT-only reader).
USERS_ENV = "SPARKIFY_REDSHIFT_USERS"
ISOLATION_ENV = "SPARKIFY_REDSHIFT_ISOLATION"
# Redshift runs every transaction SERIALIZABLE. The rehearsal runs READ COMMITTED unless told
# otherwise: under SERIALIZABLE a COPY's transaction could not see the load errors the
# rehearsal commits beside it (Redshift's system tables are outside every snapshot).
ISOLATION_LEVELS = ("read committed", "serializable")


class Config:
    """Where the backend is, the passwords, and the S3 client factory.

    A client logs in with ``password`` (the warehouse role's), or as one of ``users`` with
    that user's own; the rehearsal then logs in to PostgreSQL as the same user with the
    same password, so PostgreSQL's grants decide what the session may do.
    """

    def __init__(
        self,
        *,
        backend_host: str,
        backend_port: int,
        password: str,
        users: dict[str, str] | None = None,
        s3=None,
        isolation: str = "read committed",
    ) -> None:
        if isolation not in ISOLATION_LEVELS:
            raise ValueError(f"isolation {isolation!r} is not one of {ISOLATION_LEVELS}")
        self.isolation = isolation
        self.backend_host = backend_host
        self.backend_port = backend_port
        self.password = password
        self.users = dict(users or {})
        self._s3 = s3
        self.installed: set[str] = set()
        self.lock = threading.Lock()

    def password_of(self, user: str) -> str:
        return self.users.get(user, self.password)

    def s3(self) -> Any:
        if self._s3 is None:
            import boto3

            # Endpoint, region and the stack's fake keys come from the environment.
            self._s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        return self._s3


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        Session(self.request, self.server.config).run()  # type: ignore[attr-defined]


class RehearsalServer(socketserver.ThreadingTCPServer):
    """The rehearsal's listening socket; one thread per client connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], config: Config) -> None:
        super().__init__(address, _Handler)
        self.config = config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The local Redshift rehearsal endpoint")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend-host", default="127.0.0.1")
    parser.add_argument("--backend-port", type=int, required=True)
    parser.add_argument(
        "--isolation",
        choices=ISOLATION_LEVELS,
        default=os.environ.get(ISOLATION_ENV, "read committed"),
        help=f"the sessions' isolation level (default: ${ISOLATION_ENV} or read committed)",
    )
    args = parser.parse_args(argv)
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        parser.error(f"${PASSWORD_ENV} must hold the warehouse role's password")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = Config(
        backend_host=args.backend_host,
        backend_port=args.backend_port,
        password=password,
        users=json.loads(os.environ.get(USERS_ENV) or "{}"),
        isolation=args.isolation,
    )
    server = RehearsalServer((args.host, args.port), config)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("Redshift rehearsal on %s:%d -> PostgreSQL %s:%d", args.host, args.port,
             args.backend_host, args.backend_port)  # fmt: skip
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
