"""Who may see what on the health page: the configured auth manager decides, per DAG.

The page shows a DAG's cells, and the warehouse figures that DAG produced
(``model.DATASET_DAGS``, ``PLAYS_DAG``, ``CHECKS_DAG``), only to a user the auth manager
lets read that DAG's runs: ``is_authorized_dag(method="GET", access_entity=RUN)``, the
question Airflow's own ``GET /dags/{dag_id}/dagRuns`` asks, with the DAG's team when
Airflow runs in multi-team mode. A user who may read none of them gets 403; one who is
not logged in gets 401 before this is asked (``app``).

``sparkify report`` asks the same thing through the REST API: the runs it can list are
the ones its user may read (``readable_dags_from_api``).
"""

from __future__ import annotations

from typing import Any

from sparkify.health.model import GRID_DAGS


def readable_dags(user: Any, auth_manager: Any = None) -> tuple[str, ...]:
    """The grid's DAGs whose runs ``user`` may read, in the grid's order.

    :param auth_manager: default: the api-server's (``get_auth_manager()``)
    """
    from airflow.api_fastapi.auth.managers.models.resource_details import (
        DagAccessEntity,
        DagDetails,
    )

    if auth_manager is None:
        from airflow.api_fastapi.app import get_auth_manager

        auth_manager = get_auth_manager()
    teams = _teams()
    return tuple(
        dag_id
        for dag_id in GRID_DAGS
        if auth_manager.is_authorized_dag(
            method="GET",
            access_entity=DagAccessEntity.RUN,
            details=DagDetails(id=dag_id, team_name=teams.get(dag_id)),
            user=user,
        )
    )


def _teams() -> dict[str, str | None]:
    """Each grid DAG's team (multi-team mode only; otherwise no query)."""
    from airflow.configuration import conf

    if not conf.getboolean("core", "multi_team", fallback=False):
        return {}
    from airflow.models.dag import DagModel

    return DagModel.get_dag_id_to_team_name_mapping(list(GRID_DAGS))


def readable_dags_from_api(client: Any) -> tuple[str, ...]:
    """The grid's DAGs whose runs the REST client's user may list (403 means no)."""
    from sparkify.control.api import ApiError

    readable = []
    for dag_id in GRID_DAGS:
        try:
            client.get(f"/dags/{dag_id}/dagRuns", limit=1)
        except ApiError as exc:
            if exc.status_code in (403, 404):
                continue
            raise
        readable.append(dag_id)
    return tuple(readable)
