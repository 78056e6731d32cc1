"""Receivers for alerts on 127.0.0.1, for the whole test session: an HTTP webhook that
records each JSON body, and an SMTP server that records each message (a real SMTP dialogue
over TCP: EHLO, MAIL, RCPT, DATA, QUIT; no TLS, no authentication).

Each sink's port is chosen when it is made (the stack's environment names it before
Airflow is imported); it listens only from ``start()``, which the tests that run a stack
call: the unit and DAG tiers start no server."""

from __future__ import annotations

import email
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Sink:
    port: int
    server: socketserver.BaseServer | None = None

    def start(self) -> None:
        """Listen (once; again after ``stop``)."""
        if self.server is None:
            self.server = self._serve()
            threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _serve(self) -> socketserver.BaseServer:
        raise NotImplementedError

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class WebhookSink(_Sink):
    def __init__(self, port: int | None = None) -> None:
        self.received: list[dict] = []
        self.port = port or free_port()

    def _serve(self) -> socketserver.BaseServer:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    sink.received.append(json.loads(body))
                except ValueError:
                    sink.received.append({"raw": body.decode("utf-8", "replace")})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        return ThreadingHTTPServer(("127.0.0.1", self.port), Handler)


class SmtpSink(_Sink):
    def __init__(self, port: int | None = None) -> None:
        self.received: list[email.message.Message] = []
        self.port = port or free_port()

    def _serve(self) -> socketserver.BaseServer:
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.say("220 sparkify-test-sink ESMTP")
                while line := self.rfile.readline():
                    verb = line.decode("ascii", "replace").strip().split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.say("250 sparkify-test-sink")
                    elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                        self.say("250 OK")
                    elif verb == "DATA":
                        self.say("354 end with <CRLF>.<CRLF>")
                        data = []
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                        sink.received.append(email.message_from_bytes(b"".join(data)))
                        self.say("250 OK: queued")
                    elif verb == "QUIT":
                        self.say("221 bye")
                        return
                    else:
                        self.say("502 not implemented")

            def say(self, text: str) -> None:
                self.wfile.write(text.encode() + b"\r\n")
                self.wfile.flush()

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        return Server(("127.0.0.1", self.port), Handler)


def alert_environment(webhook: WebhookSink, smtp: SmtpSink) -> dict[str, str]:
    """The settings that send every alert of the session's stack to the two sinks."""
    return {
        "SPARKIFY_ALERT_CHANNELS": "webhook,smtp",
        "SPARKIFY_ALERT_EMAIL_TO": "oncall@example.com",
        "AIRFLOW_CONN_SPARKIFY_ALERT_WEBHOOK": json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": webhook.port, "schema": "http"}
        ),
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp.port,
                "extra": {
                    "disable_tls": True,
                    "disable_ssl": True,
                    "from_email": "sparkify-alerts@example.com",
                },
            }
        ),
    }
