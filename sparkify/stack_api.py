"""A small client for Airflow's REST API (``/api/v2``), logged in through the
SimpleAuthManager's token endpoint (``POST /auth/token``)."""

from __future__ import annotations

from typing import Any


class ApiError(RuntimeError):
    """A REST call answered with an HTTP error status."""

    def __init__(self, method: str, url: str, status_code: int, body: str) -> None:
        super().__init__(f"{method} {url} -> HTTP {status_code}: {body[:500]}")
        self.status_code = status_code
        self.body = body


class ApiClient:
    """``get``/``post``/``patch``/``delete`` on ``/api/v2`` paths, returning decoded JSON.

    ``client.get("/dags/model/dagRuns", limit=10)`` calls ``GET /api/v2/dags/model/dagRuns``.
    The bearer token is fetched on first use and fetched again once on HTTP 401.
    """

    def __init__(self, base_url: str, *, username: str, password: str, timeout: float = 30.0):
        import httpx

        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def token(self) -> str:
        """A JWT for the admin user (the SimpleAuthManager's ``POST /auth/token``)."""
        if self._token is None:
            body = {"username": self._username, "password": self._password}
            resp = self._http.post("/auth/token", json=body)
            _raise_for_status(resp)
            self._token = resp.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any):
        """Send a request to ``/api/v2<path>`` and return the ``httpx.Response`` as is."""
        url = "/api/v2/" + path.lstrip("/")
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token()}"}
            resp = self._http.request(method, url, headers=headers, **kwargs)
            if resp.status_code != 401 or attempt == 2:
                return resp
            self._token = None  # expired: log in again once
        raise AssertionError("unreachable")

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
