"""The session stack's users and their DAG grants, for ``tests.auth_manager``.

Imports no Airflow: ``tests/conftest.py`` reads it before Airflow may be imported.
"""

from __future__ import annotations

import json
import os
from typing import Any

GRANTS_ENV = "SPARKIFY_TEST_DAG_GRANTS"
CLASS_PATH = "tests.auth_manager.DagGrantsAuthManager"

# The session stack's users besides the admin: a viewer who may read two of the grid's
# DAGs, and a viewer who may read none.
READER, OUTSIDER = "reader", "outsider"
GRANTS = {READER: ["stage_events", "model"], OUTSIDER: []}


def stack_environ(admin: str) -> dict[str, str]:
    """What a stack's Airflow processes need to run with this auth manager."""
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {
        "AIRFLOW__CORE__AUTH_MANAGER": CLASS_PATH,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": (
            f"{admin}:admin,{READER}:viewer,{OUTSIDER}:viewer"
        ),
        GRANTS_ENV: json.dumps(GRANTS),
        "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root,
    }


def password_of(stack: Any, user: str) -> str:
    """The password the api-server gave ``user`` (the SimpleAuthManager's file)."""
    passwords = json.loads((stack.airflow_home / "passwords.json").read_text())
    return passwords[user]
