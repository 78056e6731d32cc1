"""Receivers for alerts on 127.0.0.1, for the whole test session: an HTTP webhook that
records each JSON body, and an SMTP server that records each message (a real SMTP dialogue
over TCP: EHLO, MAIL, RCPT, DATA, QUIT; no TLS, no authentication)."""

from __future__ import annotations

import email
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookSink:
    def __init__(self) -> None:
        self.received: list[dict] = []
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    def __init__(self) -> None:
        self.received: list[email.message.Message] = []
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

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
