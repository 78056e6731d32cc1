"""The demo's summary (``sparkify.local.summary``): why a demo failed, task instances per
host, and the warehouse read with the queries of ``sql/demo/``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sparkify.local import summary


def test_demo_summary_problems_name_failures_and_missing_partitions():
    document = {
        "runs": {
            "stage_events": {"success": 24, "failed": 0},
            "model": {"success": 22, "failed": 1},
        },
        "checks": {"passed": 10, "failed": 2},
    }
    assert summary.summary_problems(document, 24) == [
        "model: 1 partition(s) failed",
        "model: 1 partition(s) without a finished run",
        "2 check(s) failed",
    ]


class PagedTaskInstances:
    """``POST /dags/~/dagRuns/~/taskInstances/list``, two task instances a page."""

    def __init__(self, tis: list[dict]):
        self.tis = tis
        self.bodies: list[dict] = []

    def post(self, path: str, json: Any = None):
        assert path == "/dags/~/dagRuns/~/taskInstances/list"
        self.bodies.append(json)
        wanted = [
            ti for ti in self.tis
            if ti["dag_id"] in json["dag_ids"] and ti["dag_run_id"] in json["dag_run_ids"]
        ]  # fmt: skip
        offset = json["page_offset"]
        return {"task_instances": wanted[offset : offset + 2], "total_entries": len(wanted)}


def test_task_instances_per_host_counts_the_runs_given_across_pages():
    def ti(dag_id: str, run_id: str, host: str) -> dict:
        return {"dag_id": dag_id, "dag_run_id": run_id, "hostname": host}

    api = PagedTaskInstances(
        [
            ti("stage_events", "r1", "w1"), ti("stage_events", "r1", "w2"),
            ti("stage_events", "r2", "w1"), ti("model", "m1", "w2"),
            ti("model", "r1", "w1"),  # another DAG's run of the same id: not asked for
            ti("stage_events", "old", "w1"),  # not the latest run of its key
            ti("model", "m1", ""),  # never started: no host
        ]
    )  # fmt: skip
    latest = {
        "stage_events": {"k1": {"dag_run_id": "r1"}, "k2": {"dag_run_id": "r2"}},
        "model": {"k1": {"dag_run_id": "m1"}},
    }
    assert summary.task_instances_per_host(api, latest) == {"w1": 2, "w2": 2}
    assert len(api.bodies) > 1  # paged
    assert summary.task_instances_per_host(api, {}) == {}


class RecordingConnection:
    """A psycopg connection that answers every query from ``answers`` (by its first words)
    and records what it ran."""

    def __init__(self, answers: dict[str, list[tuple]]):
        self.answers = answers
        self.ran: list[tuple[str, Any]] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql: str, params: Any = None):
        self.ran.append((" ".join(sql.split()), params))
        rows = next((rows for start, rows in self.answers.items() if start in sql), [(0,)])

        class Cursor:
            def fetchone(self):
                return rows[0]

            def fetchall(self):
                return rows

        return Cursor()


def test_the_warehouse_summary_counts_what_exists_and_binds_the_range(monkeypatch) -> None:
    import psycopg

    conn = RecordingConnection(
        {
            "to_regclass": [("t",)],
            "COALESCE(SUM(rows_read)": [(5, 4, 1, 0, 2)],
            "WHERE song_id IS NOT NULL": [(3,)],
            "partition_hour <": [(1,)],
            "SELECT COUNT(*) FROM": [(7,)],
        }
    )
    monkeypatch.setattr(psycopg, "connect", lambda _dsn: conn)
    first, last = datetime(2018, 11, 1, tzinfo=UTC), datetime(2018, 11, 1, 23, tzinfo=UTC)
    got = summary.warehouse_summary("dsn", first, last)
    assert got["tables"] == dict.fromkeys(summary.TABLES, 7)
    assert got["songplays_matched"] == 3
    assert got["lines"] == dict(zip(summary.LINE_COUNTERS, (5, 4, 1, 0, 2), strict=True))
    assert got["outside_range"] == dict.fromkeys(summary.PARTITIONED_TABLES, 1)
    assert ("SELECT to_regclass(%(table)s)", {"table": '"songplays"'}) in conn.ran
    assert ('SELECT COUNT(*) FROM "time"', None) in conn.ran
    hours = {"first_hour": datetime(2018, 11, 1), "last_hour": datetime(2018, 11, 1, 23)}
    assert (
        'SELECT COUNT(*) FROM "songplays" '
        "WHERE partition_hour < %(first_hour)s OR partition_hour > %(last_hour)s",
        hours,
    ) in conn.ran


def test_a_warehouse_without_tables_counts_nothing(monkeypatch) -> None:
    import psycopg

    conn = RecordingConnection({"to_regclass": [(None,)]})
    monkeypatch.setattr(psycopg, "connect", lambda _dsn: conn)
    first = datetime(2018, 11, 1, tzinfo=UTC)
    got = summary.warehouse_summary("dsn", first, first)
    assert got["tables"] == dict.fromkeys(summary.TABLES, 0)
    assert got["lines"] == dict.fromkeys(summary.LINE_COUNTERS, 0)
    assert summary.warehouse_checks("dsn", first, first) == {"passed": 0, "failed": 0}
    assert all("to_regclass" in sql for sql, _params in conn.ran)


def test_checks_count_each_checks_latest_outcome(monkeypatch) -> None:
    import psycopg

    conn = RecordingConnection(
        {"to_regclass": [("check_results",)], "DISTINCT ON": [(True, 9), (False, 2)]}
    )
    monkeypatch.setattr(psycopg, "connect", lambda _dsn: conn)
    first = datetime(2018, 11, 1, tzinfo=UTC)
    assert summary.warehouse_checks("dsn", first, first) == {"passed": 9, "failed": 2}
