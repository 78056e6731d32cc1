"""``sparkify stack up|down|status|env``: the local stack, on 127.0.0.1 only.

Parts, each a process started and stopped by its own PID:

- ``postgres``: a private PostgreSQL cluster in ``<state>/pg`` holding the ``sparkify``
  warehouse and Airflow's ``airflow`` metadata database, each with its own role;
- ``s3``: ``moto_server``, an S3 endpoint with the source bucket. moto keeps its data
  in memory: ``down`` (or a moto restart) loses everything landed; land it again;
- Airflow's ``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer``, sharing
  ``AIRFLOW_HOME=<state>/airflow``, the LocalExecutor and the repository's ``dags/``;
- with ``executor="celery"``: the CeleryExecutor, a Redis broker (``redis``) and N Celery
  workers (``worker-1`` ..), see ``sparkify.local.stack.workers``. The executor and the
  number of workers are kept in ``stack.json`` until ``down``.

The state directory is ``$SPARKIFY_HOME``, else ``./.sparkify``. Ports are chosen on the
first ``up`` and kept in ``<state>/stack.json`` (mode 0600) together with the generated
passwords and keys; ``SPARKIFY_PG_PORT``, ``SPARKIFY_S3_PORT`` and ``SPARKIFY_API_PORT``
override them. Logs are in ``<state>/logs``. Connections reach Airflow only through
the environment (``AIRFLOW_CONN_*``), which ``sparkify stack env`` prints.

The state, its private modes and the clients: ``sparkify.local.stack.state``; what each
part runs and when it stops: ``.parts``; ``up``: ``.up`` (and ``.metadata``); ``down``:
``.down``; ``status``: ``.status``.
"""

from __future__ import annotations

from sparkify.local.stack.config import (
    AIRFLOW_PARTS,
    COMPONENTS,
    PARTS,
    PORT_ENV,
    PartStatus,
    StackError,
    choose_ports,
    dags_folder,
    default_state_dir,
    expand_components,
    export_lines,
    render_env,
)
from sparkify.local.stack.down import Shutdown
from sparkify.local.stack.status import StatusReport
from sparkify.local.stack.up import BringUp

__all__ = [
    "AIRFLOW_PARTS",
    "COMPONENTS",
    "PARTS",
    "PORT_ENV",
    "PartStatus",
    "Stack",
    "StackError",
    "choose_ports",
    "dags_folder",
    "default_state_dir",
    "expand_components",
    "export_lines",
    "render_env",
]


class Stack(BringUp, StatusReport, Shutdown):
    """The local stack whose state lives in ``state_dir`` (default: ``default_state_dir()``).

    ``up(components)`` starts what is missing and waits until healthy (components:
    ``postgres``, ``s3``, ``airflow-db`` = a migrated metadata database, ``airflow`` = the
    four Airflow processes); ``down()`` stops it all by PID; ``status()`` reports each part;
    ``env()`` is the environment for Airflow, ``sparkify`` and boto3 (``init_config()``
    makes it available before anything starts); ``api_client()`` talks to ``/api/v2``
    as the generated ``admin`` user; ``warehouse_dsn()`` is a psycopg connection string.
    """
