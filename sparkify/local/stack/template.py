"""Airflow's metadata database from a template: migrated once per version, then copied.

``airflow db migrate`` builds a fresh metadata database from nothing, one revision at a
time; a fresh stack waited for it on every ``up``. Now the first stack to migrate dumps
the result (``PostgresCluster.dump_database``), before any Airflow process has started, so
the dump holds the schema and the rows ``db migrate`` itself writes (the default pool, the
log templates), nothing of any DAG or run. Every later fresh stack restores that dump into
its empty metadata database (``restore_database``) instead of migrating. A database that
already holds Airflow's tables is always migrated, never restored over.

The template is keyed by the versions of ``apache-airflow-core`` and of PostgreSQL: another
version of either makes a template of its own. It is kept in ``$SPARKIFY_CACHE_DIR``, else
``$XDG_CACHE_HOME/sparkify``, else ``~/.cache/sparkify`` (folder 0700, file 0600); delete
it to migrate from nothing again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path

from sparkify.local.stack import process as proc

CACHE_ENV = "SPARKIFY_CACHE_DIR"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sparkify"


def template_path(pg_major: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where the metadata template of this Airflow and PostgreSQL ``pg_major`` is kept."""
    core = version("apache-airflow-core")
    return cache_dir(environ) / f"airflow-metadata-{core}-pg{pg_major}.dump"


def save(path: Path, dump: bytes) -> None:
    """Write ``dump`` to ``path`` whole or not at all (two stacks may write it at once)."""
    proc.private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os.fdopen(proc.open_private(tmp), "wb") as fh:
        fh.write(dump)
    os.replace(tmp, path)
