"""The private PostgreSQL cluster (``sparkify.local.stack.postgres``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkify.local.stack.postgres import PostgresError, find_bindir
from tests.unit.test_stack_state import mode_of


def test_missing_postgres_says_how_to_install_it(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("SPARKIFY_PG_BINDIR", str(tmp_path))
    with pytest.raises(PostgresError, match="apt-get install postgresql"):
        find_bindir()


def test_the_postgres_config_it_writes_is_private(open_umask, tmp_path: Path):
    from sparkify.local.stack.postgres import PostgresCluster

    data = tmp_path / "pg"
    data.mkdir()
    (data / "sparkify.conf").write_text("old")
    (data / "sparkify.conf").chmod(0o644)
    cluster = PostgresCluster(data, port=5001, log_path=tmp_path / "pg.log", socket_dir=data)
    cluster._give_to_owner = lambda path: None  # as root it would chown to postgres
    cluster.write_config()
    assert mode_of(data / "sparkify.conf") == 0o600
    assert "port = '5001'" in (data / "sparkify.conf").read_text()
