"""Backfills against any Airflow: where the API is and how to log in come from options or
the environment, a missing piece is named, and a server restart is waited out."""

from __future__ import annotations

import argparse
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from sparkify.cli.backfill import connect
from sparkify.control.api import ApiClient, ApiConfigError, ApiError, ApiSettings

URL = "https://airflow.example.com"


def test_a_token_from_the_environment_is_enough():
    settings = ApiSettings.resolve(
        environ={"SPARKIFY_API_URL": URL + "/", "SPARKIFY_API_TOKEN": "t0k"}
    )
    assert (settings.url, settings.token, settings.username) == (URL, "t0k", None)


def test_options_win_over_the_environment():
    settings = ApiSettings.resolve(
        url="http://other:8080",
        username="ops",
        environ={
            "SPARKIFY_API_URL": URL,
            "SPARKIFY_API_USERNAME": "admin",
            "SPARKIFY_API_PASSWORD": "pw",
        },
    )
    assert (settings.url, settings.username, settings.password) == (
        "http://other:8080",
        "ops",
        "pw",
    )


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, "SPARKIFY_API_URL"),
        ({"SPARKIFY_API_URL": URL}, "SPARKIFY_API_TOKEN"),
        ({"SPARKIFY_API_URL": URL, "SPARKIFY_API_USERNAME": "ops"}, "SPARKIFY_API_PASSWORD"),
        ({"SPARKIFY_API_URL": "airflow:8080", "SPARKIFY_API_TOKEN": "t"}, "http://"),
    ],
)
def test_what_is_missing_is_named(environ, named):
    with pytest.raises(ApiConfigError, match=named):
        ApiSettings.resolve(environ=environ)


def test_secrets_never_show_in_the_settings_repr():
    settings = ApiSettings.resolve(
        environ={
            "SPARKIFY_API_URL": URL,
            "SPARKIFY_API_USERNAME": "u",
            "SPARKIFY_API_PASSWORD": "hunter2",
        }
    )
    assert "hunter2" not in repr(settings)
    assert "s3cr3t" not in repr(ApiSettings(url=URL, token="s3cr3t"))


def test_connect_without_address_or_local_stack_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKIFY_HOME", str(tmp_path / "nothing-here"))
    args = argparse.Namespace(api_url=None, api_user=None)
    with pytest.raises(ApiConfigError, match="--api-url or set SPARKIFY_API_URL"):
        connect(args, environ={})


def test_connect_with_an_address_uses_it_and_not_the_local_stack(monkeypatch):
    args = argparse.Namespace(api_url="http://127.0.0.1:1", api_user=None)
    client = connect(args, environ={"SPARKIFY_API_TOKEN": "abc"})
    assert client.base_url == "http://127.0.0.1:1"
    assert client.token() == "abc"


class _Api(BaseHTTPRequestHandler):
    """``/auth/token`` and one ``/api/v2`` path, recording the Authorization headers."""

    seen: ClassVar[list[str]] = []

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._reply(201, b'{"access_token": "jwt-1"}')

    def do_GET(self):
        type(self).seen.append(self.headers.get("Authorization", ""))
        self._reply(200, b'{"dags": []}')

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_username_and_password_are_exchanged_for_a_token():
    _Api.seen = []
    server = _serve()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        with ApiClient(url, username="ops", password="pw") as client:
            assert client.get("/dags") == {"dags": []}
        assert _Api.seen == ["Bearer jwt-1"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_down_for_a_while_is_waited_for():
    """The API server restarts: requests are tried again until it answers."""
    _Api.seen = []
    probe = _serve()
    port = probe.server_port
    probe.shutdown()
    probe.server_close()  # the port is free: connections are refused
    later: list[ThreadingHTTPServer] = []
    timer = threading.Timer(1.5, lambda: later.append(_serve(port)))
    timer.start()
    try:
        with ApiClient(f"http://127.0.0.1:{port}", token="tok", reconnect=30) as client:
            assert client.get("/dags") == {"dags": []}
        assert _Api.seen == ["Bearer tok"]
    finally:
        timer.join()
        for server in later:
            server.shutdown()
            server.server_close()


def test_a_server_that_never_comes_back_is_an_error_naming_it():
    probe = _serve()
    port = probe.server_port
    probe.shutdown()
    probe.server_close()
    with (
        ApiClient(f"http://127.0.0.1:{port}", token="tok", reconnect=1) as client,
        pytest.raises(ApiError, match=f"127.0.0.1:{port}.*not reachable"),
    ):
        client.get("/dags")
