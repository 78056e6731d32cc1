"""The health page's FastAPI app, mounted at ``/sparkify`` on the api-server.

Airflow mounts plugin apps without the core API's authentication, so every route here
depends on the core API's own ``get_user``: a bearer token, or the UI's session cookie
(which the embedded view sends), else 401 and no data. Then the auth manager says which
DAGs' runs the user may read (``access.readable_dags``): the page and its data hold only
those DAGs and their figures, and a user who may read none gets 403. Every answer, errors
too, carries ``page.HEADERS`` (the content security policy, ``nosniff``, ``no-store``).

The warehouse is read through ``warehouse_read`` when that connection exists
(``sparkify.pipeline.warehouse.reader_hook``): the api-server faces users, and a page
that can only ``SELECT`` cannot be made to write.
"""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse


def _ui_base() -> str:
    from urllib.parse import urlsplit

    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "/").path.rstrip("/")


def _gather(user: Any, first: str | None, last: str | None):
    from sparkify.health.access import readable_dags
    from sparkify.health.gather import gather
    from sparkify.health.runs import runs_from_metadata

    dags = readable_dags(user)
    if not dags:
        raise HTTPException(
            status_code=403,
            detail="you may not read the runs of any of the pipeline's DAGs",
        )
    try:
        return gather(first, last, runs=runs_from_metadata, dags=dags)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


def _headers() -> dict[str, str]:
    from sparkify.health.page import HEADERS

    return dict(HEADERS)


def create_app() -> FastAPI:
    from airflow.api_fastapi.core_api.security import get_user

    user_required = Annotated[Any, Depends(get_user)]

    app = FastAPI(
        title="Sparkify partition health", docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        # On every answer: pages, data, 401, 403, 404, errors.
        response = await call_next(request)
        for name, value in _headers().items():
            response.headers.setdefault(name, value)
        return response

    @app.get("/", response_class=HTMLResponse)
    async def page(
        request: Request,
        user: user_required,
        first: str | None = Query(None, alias="from"),
        last: str | None = Query(None, alias="to"),
    ) -> HTMLResponse:
        from sparkify.health.page import render, ui_run_link

        health = await run_in_threadpool(_gather, user, first, last)
        html = render(health, run_link=ui_run_link(_ui_base()), form_action=request.url.path)
        return HTMLResponse(html)

    @app.get("/data")
    async def data(
        user: user_required,
        first: str | None = Query(None, alias="from"),
        last: str | None = Query(None, alias="to"),
    ) -> JSONResponse:
        health = await run_in_threadpool(_gather, user, first, last)
        return JSONResponse(as_json(health))

    return app


def as_json(health: Any) -> dict[str, Any]:
    """The page's data as JSON: keys as Airflow writes them, times in ISO 8601.

    ``dags``: the DAGs the reader may see (only they are in ``states`` and ``runs``);
    ``runs``: DAG -> key -> ``{"state", "run_id"}``; ``hours``: key -> the figures the
    reader may see (``Health.shows``: a hidden group's fields are absent, not zero).
    Built directly (a year is 35,040 runs and 8,760 hours), not through ``asdict``.
    """
    from sparkify.pipeline.partitions import format_key

    lines, plays, checks = (health.shows(g) for g in ("lines", "plays", "checks"))

    def figures(s: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if lines:
            out.update(
                read=s.read,
                staged=s.staged,
                rejected=s.rejected,
                duplicate=s.duplicate,
                coerced=s.coerced,
                reasons=[[reason, n] for reason, n in s.reasons],
            )
        if plays:
            out.update(plays=s.plays, matched=s.matched)
        if checks:
            out.update(checks=s.checks, checks_failed=s.checks_failed)
        return out

    keys = {hour: format_key(hour) for hour in health.hour_list()}

    def key(hour):
        return keys.get(hour) or format_key(hour)

    return {
        "first": format_key(health.first),
        "last": format_key(health.last),
        "dags": list(health.dags),
        "states": {dag_id: health.state_counts(dag_id) for dag_id in health.dags},
        "runs": {
            dag_id: {key(h): {"state": r.state, "run_id": r.run_id} for h, r in runs.items()}
            for dag_id, runs in health.runs.items()
        },
        "hours": {key(h): figures(s) for h, s in health.hours.items()},
        "failed_checks": [
            {
                "check": c.check,
                "table": c.table,
                "partition_key": format_key(c.hour) if c.hour else None,
                "value": c.value,
                "checked_at": c.checked_at.isoformat(),
            }
            for c in health.failed_checks
        ],
        "newest_with_events": (
            health.newest_with_events.isoformat() if health.newest_with_events else None
        ),
        "freshness_hours": health.freshness_hours(),
    }
