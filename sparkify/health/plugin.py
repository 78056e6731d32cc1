"""The health page as an Airflow plugin: a FastAPI app at ``/sparkify/`` on the api-server
(``sparkify.health.app``), linked from the UI's navigation as an external view.

Registered through the ``airflow.plugins`` entry point of the installed package
(``pyproject.toml``): a deployment that installs the wheel has the page. Every Airflow
process that loads plugins imports this module (a task process does, for macros), so it
imports nothing heavy: the app is built on its first request.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/sparkify"


class LazyApp:
    """An ASGI app that builds the real one (``app.create_app``) on its first request."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from sparkify.health.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class SparkifyHealthPlugin(AirflowPlugin):
    """``/sparkify/``: the partition health page, in the UI's Browse menu."""

    name = "sparkify_health"
    fastapi_apps = [  # noqa: RUF012 -- AirflowPlugin's own attribute, a list by contract
        {"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Sparkify partition health"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Partition health",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "sparkify-health",
        }
    ]
