"""Backfills against any Airflow: where the API is and how to log in come from options or
the environment, a missing piece is named, and a server restart is waited out."""

from __future__ import annotations

import argparse
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from sparkify.cli.backfill import connect
from sparkify.cli.main import build_parser
from sparkify.control.api import ApiClient, ApiConfigError, ApiError, ApiSettings
from sparkify.local.stack.stack import Stack

URL = "https://airflow.example.com"


def test_a_token_from_the_environment_is_enough():
    settings = ApiSettings.resolve(
        environ={"SPARKIFY_API_URL": URL + "/", "SPARKIFY_API_TOKEN": "t0k"}
    )
    assert (settings.url, settings.token, settings.username) == (URL, "t0k", None)


def test_options_win_over_the_environment():
    settings = ApiSettings.resolve(
        url="https://other:8080",
        username="ops",
        environ={
            "SPARKIFY_API_URL": URL,
            "SPARKIFY_API_USERNAME": "admin",
            "SPARKIFY_API_PASSWORD": "pw",
        },
    )
    assert (settings.url, settings.username, settings.password) == (
        "https://other:8080",
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


TOKEN = {"SPARKIFY_API_TOKEN": "t0k"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.3.4.5",
        "http://localhost:8080/",
        "http://LOCALHOST",
        "http://[::1]:8080",
        "https://airflow.example.com",
        "HTTPS://airflow.example.com",
    ],
)
def test_https_and_plain_http_to_this_machine_are_taken(url):
    settings = ApiSettings.resolve(url=url, environ=TOKEN)
    assert settings.url == url.rstrip("/")
    assert not settings.in_clear


@pytest.mark.parametrize(
    "url",
    [
        "http://airflow.example.com",
        "http://10.0.0.5:8080",
        "http://[fe80::1]:8080",
        "http://127.0.0.1.example.com",  # a name, not the loopback address
        "http://localhost.example.com",
    ],
)
def test_plain_http_to_another_machine_is_refused_quoting_the_address(url):
    with pytest.raises(ApiConfigError, match="in clear") as info:
        ApiSettings.resolve(url=url, environ=TOKEN)
    assert repr(url) in str(info.value)
    assert "--allow-insecure-http" in str(info.value)
    assert "SPARKIFY_API_ALLOW_HTTP=1" in str(info.value)
    with pytest.raises(ApiConfigError, match="in clear"):  # the client itself refuses it too
        ApiClient(url, token="t0k")


@pytest.mark.parametrize(
    ("kwargs", "environ"),
    [
        ({"allow_http": True}, {}),
        ({}, {"SPARKIFY_API_ALLOW_HTTP": "1"}),
        ({}, {"SPARKIFY_API_ALLOW_HTTP": "yes"}),
    ],
)
def test_plain_http_elsewhere_is_taken_when_allowed(kwargs, environ):
    url = "http://airflow.internal:8080"
    settings = ApiSettings.resolve(url=url, environ={**TOKEN, **environ}, **kwargs)
    assert (settings.url, settings.allow_http, settings.in_clear) == (url, True, True)
    with ApiClient.from_settings(settings) as client:
        assert client.base_url == url


def test_allow_http_that_is_not_a_yes_or_a_no_is_refused_quoting_it():
    environ = {**TOKEN, "SPARKIFY_API_ALLOW_HTTP": "please"}
    with pytest.raises(ApiConfigError, match="SPARKIFY_API_ALLOW_HTTP='please'"):
        ApiSettings.resolve(url=URL, environ=environ)
    environ["SPARKIFY_API_ALLOW_HTTP"] = "0"
    with pytest.raises(ApiConfigError, match="in clear"):
        ApiSettings.resolve(url="http://airflow.internal", environ=environ)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://airflow.example.com", "must start with https://"),
        ("file:///etc/passwd", "must start with https://"),
        ("airflow.example.com:8080", "must start with https://"),
        ("https://", "names no host"),
        ("https://airflow.example.com:port", "is not a URL"),
        # urlsplit reads the host ::1 (this machine); httpx, which sends, refuses it
        ("http://[::1]evil.example.com/", "is not a URL the client can read"),
    ],
)
def test_other_schemes_and_hostless_addresses_are_refused_quoting_them(url, why):
    with pytest.raises(ApiConfigError, match=why) as info:
        ApiSettings.resolve(url=url, environ=TOKEN)
    assert repr(url) in str(info.value)


def test_credentials_in_the_address_are_refused_without_showing_them():
    with pytest.raises(ApiConfigError, match="holds credentials") as info:
        ApiSettings.resolve(url="https://ops:hunter2@airflow.example.com", environ=TOKEN)
    assert "hunter2" not in str(info.value)
    assert "'https://***@airflow.example.com'" in str(info.value)


def test_connect_warns_on_stderr_when_plain_http_is_allowed(capsys):
    insecure = ["--api-url", "http://airflow.internal:8080", "--allow-insecure-http"]
    for command in (  # every command that takes --api-url
        ["backfill", "--from", "2018-11-01", "--to", "2018-11-01"],
        ["report", "--out", "x.html"],
    ):
        args = build_parser().parse_args(command + insecure)
        with connect(args, environ=TOKEN) as client:
            assert client.base_url == "http://airflow.internal:8080"
        assert "warning: http://airflow.internal:8080 is plain HTTP" in capsys.readouterr().err
        args.allow_insecure_http = False
        with pytest.raises(ApiConfigError, match="in clear"):
            connect(args, environ=TOKEN)


def test_connect_to_https_or_this_machine_prints_no_warning(capsys):
    for url in (URL, "http://127.0.0.1:8080"):
        args = argparse.Namespace(api_url=url, api_user=None, allow_insecure_http=False)
        connect(args, environ=TOKEN).close()
    assert capsys.readouterr().err == ""


def test_the_local_stacks_own_client_is_plain_http_to_this_machine(tmp_path):
    stack = Stack(tmp_path)
    port = stack.init_config()["ports"]["api"]  # as `sparkify stack up` writes it; no server
    with stack.api_client() as client:
        assert client.base_url == f"http://127.0.0.1:{port}"


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
