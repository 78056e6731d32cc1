"""Airflow's metadata database on ``up``: ``airflow db migrate`` once per installed Airflow
version, or, for a fresh database, the template of an earlier migration restored
(``sparkify.local.stack.template``); the first migration from nothing keeps one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sparkify.local.stack import process as proc
from sparkify.local.stack import template as metadata_template
from sparkify.local.stack.config import AIRFLOW_DB, AIRFLOW_ROLE
from sparkify.local.stack.postgres import PostgresCluster, PostgresError
from sparkify.local.stack.probes import airflow_db_ready
from sparkify.local.stack.state import StackState


class MetadataDatabase(StackState):
    """The ``airflow-db`` component of ``Stack.up``."""

    def _migrate(self, cfg: dict[str, Any], deadline: float, echo) -> None:
        """``airflow db migrate``, once per installed Airflow version; a fresh metadata
        database is restored from the template instead, once there is one (``template``)."""
        from importlib.metadata import version

        airflow_version = version("apache-airflow")
        ready = airflow_db_ready(cfg)
        if cfg.get("airflow_migrated") == airflow_version and ready:
            return
        cluster = self._postgres(cfg)
        template = metadata_template.template_path(cluster.major)
        if not ready and self._restore_template(cluster, template, echo):
            cfg["airflow_migrated"] = airflow_version
            self._save_config(cfg)
            return
        echo("airflow: migrating the metadata database")
        log = self.log_path("airflow-db-migrate")
        proc.private_dir(self.log_dir)
        proc.private_dir(self.airflow_home)
        with os.fdopen(proc.open_private(log, os.O_WRONLY | os.O_APPEND), "ab") as fh:
            try:
                result = subprocess.run(
                    [sys.executable, "-m", "airflow", "db", "migrate"],
                    env=self._process_env(),
                    cwd=self.state_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    timeout=max(deadline - time.monotonic(), 120),
                    check=False,
                    umask=proc.PRIVATE_UMASK,
                )
            except subprocess.TimeoutExpired:
                raise self._fail("airflow-db-migrate", "timed out") from None
        if result.returncode != 0:
            raise self._fail("airflow-db-migrate", f"failed (exit {result.returncode})")
        cfg["airflow_migrated"] = airflow_version
        self._save_config(cfg)
        if not ready:  # migrated from nothing: what every later fresh stack restores
            try:
                metadata_template.save(template, cluster.dump_database(AIRFLOW_DB))
            except (PostgresError, OSError) as exc:
                echo(f"airflow: no metadata template kept ({str(exc).splitlines()[0]})")
            else:
                echo(f"airflow: metadata template kept in {template}")

    def _restore_template(self, cluster: PostgresCluster, template: Path, echo) -> bool:
        """Restore the metadata template into the empty metadata database, if there is one
        and it restores; a template that fails leaves the database empty, to be migrated."""
        try:
            dump = template.read_bytes()
        except FileNotFoundError:
            return False
        started = time.monotonic()
        try:
            cluster.restore_database(AIRFLOW_DB, dump, owner=AIRFLOW_ROLE)
        except PostgresError as exc:
            echo(f"airflow: the metadata template {template} did not restore "
                 f"({str(exc).splitlines()[0]}); migrating instead")  # fmt: skip
            return False
        echo(f"airflow: metadata database from the template in {time.monotonic() - started:.1f}s")
        return True
