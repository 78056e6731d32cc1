"""The health page's FastAPI app, mounted at ``/sparkify`` on the api-server.

Airflow mounts plugin apps without the core API's authentication, so every route here
depends on the core API's own ``get_user``: a bearer token, or the UI's session cookie
(which the embedded view sends), else 401/403 and no data.
"""

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse


def _ui_base() -> str:
    from urllib.parse import urlsplit

    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "/").path.rstrip("/")


def _gather(first: str | None, last: str | None):
    from sparkify.health.gather import gather
    from sparkify.health.runs import runs_from_metadata

    try:
        return gather(first, last, runs=runs_from_metadata)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


def create_app() -> FastAPI:
    from airflow.api_fastapi.core_api.security import get_user

    user_required = Annotated[Any, Depends(get_user)]

    app = FastAPI(
        title="Sparkify partition health", docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.get("/", response_class=HTMLResponse)
    async def page(
        request: Request,
        _user: user_required,
        first: str | None = Query(None, alias="from"),
        last: str | None = Query(None, alias="to"),
    ) -> HTMLResponse:
        from sparkify.health.page import render, ui_run_link

        health = await run_in_threadpool(_gather, first, last)
        html = render(health, run_link=ui_run_link(_ui_base()), form_action=request.url.path)
        return HTMLResponse(html)

    @app.get("/data")
    async def data(
        _user: user_required,
        first: str | None = Query(None, alias="from"),
        last: str | None = Query(None, alias="to"),
    ) -> JSONResponse:
        health = await run_in_threadpool(_gather, first, last)
        return JSONResponse(as_json(health))

    return app


def as_json(health: Any) -> dict[str, Any]:
    """The page's data as JSON: ISO times, keys as Airflow writes them."""
    from sparkify.health.model import GRID_DAGS
    from sparkify.pipeline.partitions import format_key

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {
                plain(k) if not isinstance(k, datetime) else format_key(k): plain(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if dataclasses.is_dataclass(value):
            return plain(dataclasses.asdict(value))
        return value

    return {
        "first": format_key(health.first),
        "last": format_key(health.last),
        "states": {dag_id: health.state_counts(dag_id) for dag_id in GRID_DAGS},
        "runs": plain(health.runs),
        "hours": plain(health.hours),
        "failed_checks": plain(health.failed_checks),
        "newest_with_events": plain(health.newest_with_events),
        "freshness_hours": health.freshness_hours(),
    }
