"""An auth manager for the tests: Airflow's SimpleAuthManager, plus per-user DAG grants.

The SimpleAuthManager's roles cannot say "this viewer may read ``stage_events`` but not
``quality``" (per-DAG rules need multi-team mode and a DAG bundle per team). This one
behaves exactly as the SimpleAuthManager does, except that a user named in
``SPARKIFY_TEST_DAG_GRANTS`` (JSON ``{"user": ["dag_id", ...]}``) may reach only the DAGs
listed. The session's stack runs its Airflow with it (``tests.auth_grants``); it never
ships in the package.
"""

from __future__ import annotations

import json
import os
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

from tests.auth_grants import GRANTS_ENV


class DagGrantsAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        grants = json.loads(os.environ.get(GRANTS_ENV) or "{}")
        allowed = grants.get(user.get_name())
        if allowed is not None and (details is None or details.id not in allowed):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
