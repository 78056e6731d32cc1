"""A small client for Airflow's REST API (``/api/v2``), and where its settings come from.

Authentication is a bearer token: given as is (``SPARKIFY_API_TOKEN``), or fetched from
the auth manager's token endpoint (``POST /auth/token``, which the SimpleAuthManager and
the FAB auth manager both serve) with a username and password. Nothing is read from files.

Both the password and the token would cross the network in clear over ``http://``: an
address must be ``https://``, or ``http://`` to this machine (``127.0.0.0/8``, ``::1``,
``localhost``: the local stack's), unless plain HTTP elsewhere is allowed on purpose
(``--allow-insecure-http`` or ``SPARKIFY_API_ALLOW_HTTP=1``, for a network one trusts).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sparkify.errors import CliError

# How long a request keeps trying while the API server cannot be reached (restarted,
# redeployed): long enough for a restart, short enough that a wrong address fails.
DEFAULT_RECONNECT_S = 120.0
_RETRY_STATUS = (502, 503, 504)  # a proxy or load balancer in front of a restarting server
URL_ENV = "SPARKIFY_API_URL"
TOKEN_ENV = "SPARKIFY_API_TOKEN"
USERNAME_ENV = "SPARKIFY_API_USERNAME"
PASSWORD_ENV = "SPARKIFY_API_PASSWORD"
ALLOW_HTTP_ENV = "SPARKIFY_API_ALLOW_HTTP"
ALLOW_HTTP_OPTION = "--allow-insecure-http"
_YES, _NO = ("1", "true", "yes"), ("", "0", "false", "no")


class ApiError(RuntimeError):
    """A REST call answered with an HTTP error status."""

    def __init__(self, method: str, url: str, status_code: int, body: str) -> None:
        super().__init__(f"{method} {url} -> HTTP {status_code}: {body[:500]}")
        self.status_code = status_code
        self.body = body


class ApiConfigError(CliError):
    """Where the API is, or how to log in to it, is missing or incomplete."""


def is_loopback(host: str) -> bool:
    """``localhost``, or an address of ``127.0.0.0/8`` or ``::1``: this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return False


def in_clear(url: str) -> bool:
    """Whether ``url`` is plain HTTP to another machine: what it sends, anyone between sees."""
    parts = urlsplit(url)
    return parts.scheme.lower() == "http" and not is_loopback(parts.hostname or "")


def _same_host_as_the_client(url: str, host: str) -> bool:
    """Whether httpx, which sends the requests, reads the same host as ``urlsplit`` here:
    a check made on one parser's reading must hold for the other's."""
    import httpx

    try:
        theirs = httpx.URL(url).host
    except httpx.InvalidURL:
        return False
    return theirs.strip("[]").lower() == host.lower()


def check_url(url: str, *, allow_http: bool = False) -> str:
    """``url`` without a trailing ``/``, if it is ``https://``, or ``http://`` to this machine
    (``is_loopback``), or ``http://`` anywhere with ``allow_http``.

    :raises ApiConfigError: another scheme, no host, a user or password in it, or plain
        HTTP to another machine, quoting the address (without its user and password)
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- a port that is not a number raises here
    except ValueError as exc:
        raise ApiConfigError(f"the API address {url!r} is not a URL: {exc}") from None
    if "@" in parts.netloc:  # quoted without what stands before the "@"
        shown = url.replace(parts.netloc, "***@" + parts.netloc.rpartition("@")[2], 1)
        raise ApiConfigError(
            f"the API address {shown!r} holds credentials: pass the user with --api-user "
            f"(or {USERNAME_ENV}) and the password in {PASSWORD_ENV}"
        )
    if parts.scheme.lower() not in ("http", "https"):
        raise ApiConfigError(f"the API address {url!r} must start with https:// (or http://)")
    if not parts.hostname:
        raise ApiConfigError(f"the API address {url!r} names no host")
    if not _same_host_as_the_client(url, parts.hostname):
        raise ApiConfigError(f"the API address {url!r} is not a URL the client can read")
    if in_clear(url) and not allow_http:
        raise ApiConfigError(
            f"the API address {url!r} is plain HTTP to another machine: the password and "
            "the token would cross the network in clear. Use https://, or, on a network "
            f"you trust, pass {ALLOW_HTTP_OPTION} (or set {ALLOW_HTTP_ENV}=1)"
        )
    return url.rstrip("/")


def allow_http_from(environ: Mapping[str, str]) -> bool:
    """``SPARKIFY_API_ALLOW_HTTP``: ``1``/``true``/``yes``, or unset/``0``/``false``/``no``.

    :raises ApiConfigError: any other value, quoted
    """
    value = environ.get(ALLOW_HTTP_ENV, "").strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise ApiConfigError(
        f"{ALLOW_HTTP_ENV}={environ[ALLOW_HTTP_ENV]!r} is neither 1 (allow plain HTTP) nor 0"
    )


@dataclass(frozen=True)
class ApiSettings:
    """Where Airflow's API server is and how to authenticate to it.

    ``allow_http``: plain HTTP to another machine was allowed on purpose (``check_url``).
    """

    url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    allow_http: bool = False

    def __repr__(self) -> str:  # never show a secret in a log or a traceback
        who = "token" if self.token else f"user {self.username!r}"
        return f"ApiSettings(url={self.url!r}, {who})"

    @property
    def in_clear(self) -> bool:
        """Credentials to this address cross the network unencrypted (``in_clear``)."""
        return in_clear(self.url)

    @classmethod
    def resolve(
        cls,
        *,
        url: str | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        allow_http: bool = False,
        environ: Mapping[str, str],
    ) -> ApiSettings:
        """Options first, then ``SPARKIFY_API_*`` in the environment.

        :param allow_http: allow plain HTTP to another machine (``check_url``); so does
            ``SPARKIFY_API_ALLOW_HTTP=1``
        :raises ApiConfigError: naming what is missing, or quoting what is refused
        """
        url = url or environ.get(URL_ENV)
        token = token or environ.get(TOKEN_ENV)
        username = username or environ.get(USERNAME_ENV)
        password = password or environ.get(PASSWORD_ENV)
        if not url:
            raise ApiConfigError(f"no Airflow API address: pass --api-url or set {URL_ENV}")
        allow_http = allow_http or allow_http_from(environ)
        url = check_url(url, allow_http=allow_http)
        if token:
            return cls(url=url, token=token, allow_http=allow_http)
        if username and password:
            return cls(url=url, username=username, password=password, allow_http=allow_http)
        if username:
            raise ApiConfigError(
                f"user {username!r} has no password: set {PASSWORD_ENV} "
                "(never on the command line, where other users' ps can read it)"
            )
        raise ApiConfigError(
            f"no credentials for {url}: set {TOKEN_ENV} (a token of the auth manager), "
            f"or {USERNAME_ENV} and {PASSWORD_ENV}"
        )


class ApiClient:
    """``get``/``post``/``patch``/``delete`` on ``/api/v2`` paths, returning decoded JSON.

    ``client.get("/dags/model/dagRuns", limit=10)`` calls ``GET /api/v2/dags/model/dagRuns``.
    With a username and password, the bearer token is fetched on first use and fetched
    again once on HTTP 401. While the server cannot be reached, a request is tried again
    for up to ``reconnect`` seconds: a connection refused was never received, so any
    request may be sent again; a request cut off mid-way is sent again only if it is a
    ``GET``. ``base_url`` is refused as ``check_url`` says (plain HTTP to another machine
    only with ``allow_http``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        reconnect: float = DEFAULT_RECONNECT_S,
        allow_http: bool = False,
    ):
        import httpx

        if token is None and not (username and password):
            raise ApiConfigError("ApiClient needs a token, or a username and a password")
        self.base_url = check_url(base_url, allow_http=allow_http)
        self._username = username
        self._password = password
        self._fixed_token = token is not None
        self._token = token
        self._reconnect = reconnect
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: ApiSettings, **kwargs: Any) -> ApiClient:
        return cls(
            settings.url,
            token=settings.token,
            username=settings.username,
            password=settings.password,
            allow_http=settings.allow_http,
            **kwargs,
        )

    def token(self) -> str:
        """The bearer token: the one given, or a JWT from ``POST /auth/token``."""
        if self._token is None:
            body = {"username": self._username, "password": self._password}
            resp = self._send("POST", "/auth/token", json=body)
            _raise_for_status(resp)
            self._token = resp.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any):
        """Send a request to ``/api/v2<path>`` and return the ``httpx.Response`` as is."""
        url = "/api/v2/" + path.lstrip("/")
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token()}"}
            resp = self._send(method, url, headers=headers, **kwargs)
            if resp.status_code != 401 or attempt == 2 or self._fixed_token:
                return resp
            self._token = None  # expired: log in again once
        raise AssertionError("unreachable")

    def _send(self, method: str, url: str, **kwargs: Any):
        import httpx

        deadline = time.monotonic() + self._reconnect
        delay = 0.5
        resp = None
        while True:
            try:
                resp = self._http.request(method, url, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure: Exception | None = exc  # nothing reached the server
            except httpx.TransportError:
                if method != "GET":  # the server may have acted on it
                    raise
                failure = None
                resp = None
            else:
                if resp.status_code not in _RETRY_STATUS:
                    return resp
                failure = None
            if time.monotonic() + delay > deadline:
                if resp is not None and failure is None:
                    return resp
                raise ApiError(
                    method, f"{self.base_url}{url}", 0, f"not reachable for {self._reconnect:.0f}s"
                ) from failure
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def get(self, path: str, **params: Any) -> Any:
        return self._json(self.request("GET", path, params=params))

    def post(self, path: str, json: Any = None) -> Any:
        return self._json(self.request("POST", path, json=json))

    def patch(self, path: str, json: Any = None, **params: Any) -> Any:
        return self._json(self.request("PATCH", path, json=json, params=params))

    def delete(self, path: str) -> None:
        _raise_for_status(self.request("DELETE", path))

    @staticmethod
    def _json(resp) -> Any:
        _raise_for_status(resp)
        return resp.json() if resp.content else None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _raise_for_status(resp) -> None:
    if resp.status_code >= 400:
        raise ApiError(resp.request.method, str(resp.request.url), resp.status_code, resp.text)
