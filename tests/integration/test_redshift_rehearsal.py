"""The Redshift rehearsal against the stack's PostgreSQL and S3, driven by redshift_connector.

Each test gets its own database (the driver cannot pass a search_path) and a rehearsal
server on a free port in this process (``rehearsal`` and ``rehearsal_database``, in
``tests/integration/conftest.py``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct

import pytest
import redshift_connector

from sparkify.local.redshift import wire
from tests.integration.conftest import redshift_connect

pytestmark = pytest.mark.integration

JSONPATHS = {"jsonpaths": ["$['id']", "$['name']", "$.nested.score", "$['flag']"]}
ROLE = "arn:aws:iam::123456789012:role/rehearsal"


@pytest.fixture
def connect(stack, rehearsal, rehearsal_database):
    opened = []

    def _connect(**kwargs):
        conn = redshift_connect(stack, rehearsal, rehearsal_database, **kwargs)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        with contextlib.suppress(Exception):
            conn.close()


@pytest.fixture(autouse=True)
def pyformat():
    before = redshift_connector.paramstyle
    redshift_connector.paramstyle = "pyformat"
    yield
    redshift_connector.paramstyle = before


def put(s3, bucket, key, body):
    s3.put_object(Bucket=bucket, Key=key, Body=body if isinstance(body, bytes) else body.encode())


def rows(cur, sql, params=None):
    cur.execute(sql, params)
    return [tuple(r) for r in cur.fetchall()]


def make_table(cur, ddl="CREATE TABLE t (id INTEGER, name VARCHAR(8), score FLOAT8, flag BOOLEAN)"):
    cur.execute(ddl)


def copy_sql(source, json_arg, *extra):
    return (
        f"COPY t (id, name, score, flag) FROM '{source}' IAM_ROLE '{ROLE}' "
        f"FORMAT AS JSON '{json_arg}' REGION 'us-east-1' " + " ".join(extra)
    )


def test_the_driver_connects_and_binds_named_parameters(connect) -> None:
    conn = connect()
    cur = conn.cursor()
    assert rows(cur, "SELECT %(a)s::int + 1, current_database()", {"a": 41})[0][0] == 42
    assert str(conn._server_version) == "8.0.2"
    conn.rollback()


def test_a_wrong_password_is_refused(connect) -> None:
    with pytest.raises(redshift_connector.ProgrammingError, match="password authentication"):
        connect(password="not-the-password")


def test_redshift_ddl_runs(connect) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute(
        "CREATE TABLE d (k VARCHAR(4) NOT NULL, at TIMESTAMP DEFAULT GETDATE()) "
        "DISTSTYLE KEY DISTKEY (k) COMPOUND SORTKEY (k, at)"
    )
    cur.execute("INSERT INTO d (k) VALUES ('a')")
    assert rows(cur, "SELECT k, at IS NOT NULL FROM d") == [("a", True)]
    conn.commit()


def test_copy_auto_through_a_manifest_inside_the_transaction(connect, s3, bucket) -> None:
    put(s3, bucket, "in/a.json", '{"id": 1, "name": "one", "score": 1.5, "flag": true}\n')
    put(s3, bucket, "in/b.json", '{"id": "2", "NAME": "upper", "extra": 1}\n{"id": 3}')
    put(s3, bucket, "in/skip.txt", "not listed")
    entries = [{"url": f"s3://{bucket}/in/{k}", "mandatory": True} for k in ("a.json", "b.json")]
    put(s3, bucket, "m.manifest", json.dumps({"entries": entries}))
    conn = connect()
    cur = conn.cursor()
    make_table(cur)
    conn.commit()
    cur.execute(copy_sql(f"s3://{bucket}/m.manifest", "auto", "MANIFEST"))
    assert rows(cur, "SELECT pg_last_copy_count()") == [(3,)]
    # 'auto' matches key and column name exactly: "NAME" is not "name".
    assert rows(cur, "SELECT id, name, score, flag FROM t ORDER BY id") == [
        (1, "one", 1.5, True),
        (2, None, None, None),
        (3, None, None, None),
    ]
    conn.rollback()  # the load was part of the transaction
    assert rows(cur, "SELECT COUNT(*) FROM t") == [(0,)]
    cur.execute(copy_sql(f"s3://{bucket}/m.manifest", "auto ignorecase", "MANIFEST"))
    assert rows(cur, "SELECT name FROM t WHERE id = 2") == [("upper",)]
    conn.commit()


def test_copy_jsonpaths_records_refused_lines_within_maxerror(connect, s3, bucket) -> None:
    put(s3, bucket, "p.json", json.dumps(JSONPATHS))
    lines = [
        {"id": 1, "name": "ok", "nested": {"score": 2}, "flag": False},
        {"id": 1.5, "name": "frac"},
        {"id": 2, "name": "far too long"},
        "{broken",
        {"id": 3, "name": "fine"},
    ]
    body = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    put(s3, bucket, "ev/h/x.json", body)
    conn = connect()
    cur = conn.cursor()
    make_table(cur)
    cur.execute(copy_sql(f"s3://{bucket}/ev/h/", f"s3://{bucket}/p.json", "MAXERROR 5"))
    assert rows(cur, "SELECT pg_last_copy_count()") == [(2,)]
    assert rows(cur, "SELECT id, name, score FROM t ORDER BY id") == [
        (1, "ok", 2.0),
        (3, "fine", None),
    ]
    errors = rows(
        cur,
        "SELECT TRIM(filename), line_number, TRIM(colname), err_code, TRIM(raw_field_value) "
        "FROM stl_load_errors WHERE query = pg_last_copy_id() ORDER BY line_number",
    )
    assert errors == [
        (f"s3://{bucket}/ev/h/x.json", 2, "id", 1207, "1.5"),
        (f"s3://{bucket}/ev/h/x.json", 3, "name", 1204, "far too long"),
        (f"s3://{bucket}/ev/h/x.json", 4, "", 1216, "{broken"),
    ]
    detail = rows(
        cur,
        "SELECT line_number, error_code FROM sys_load_error_detail "
        "WHERE query_id = pg_last_copy_id() ORDER BY line_number",
    )
    assert detail == [(2, 1207), (3, 1204), (4, 1216)]
    conn.commit()


def test_truncatecolumns_and_acceptinvchars(connect, s3, bucket) -> None:
    body = b'{"id": 1, "name": "abcdefghijk"}\n{"id": 2, "name": "ok\xff"}\n'
    put(s3, bucket, "x/1.json", body)
    conn = connect()
    cur = conn.cursor()
    make_table(cur)
    cur.execute(copy_sql(f"s3://{bucket}/x/", "auto", "TRUNCATECOLUMNS", "ACCEPTINVCHARS"))
    assert rows(cur, "SELECT id, name FROM t ORDER BY id") == [(1, "abcdefgh"), (2, "ok?")]
    conn.commit()


def test_more_errors_than_maxerror_fail_the_copy_and_the_transaction(connect, s3, bucket):
    put(s3, bucket, "bad/1.json", '{"id": "x"}\n{"id": 1}\n')
    conn = connect()
    cur = conn.cursor()
    make_table(cur)
    conn.commit()
    cur.execute("INSERT INTO t (id) VALUES (99)")
    with pytest.raises(redshift_connector.Error, match="stl_load_errors"):
        cur.execute(copy_sql(f"s3://{bucket}/bad/", "auto"))
    with pytest.raises(redshift_connector.Error, match="aborted"):
        cur.execute("SELECT 1")
    conn.rollback()
    assert rows(cur, "SELECT COUNT(*) FROM t") == [(0,)]
    # The refused line stays recorded, as in Redshift's system table.
    assert rows(cur, "SELECT err_code FROM stl_load_errors") == [(1207,)]
    conn.commit()


def test_a_prefix_matching_nothing_fails(connect, bucket) -> None:
    conn = connect()
    cur = conn.cursor()
    make_table(cur)
    with pytest.raises(redshift_connector.Error, match="does not exist"):
        cur.execute(copy_sql(f"s3://{bucket}/nothing/here/", "auto"))
    conn.rollback()


def test_access_keys_in_copy_are_refused(connect, bucket) -> None:
    conn = connect()
    cur = conn.cursor()
    make_table(cur)
    with pytest.raises(redshift_connector.Error, match="refuses access keys"):
        cur.execute(
            f"COPY t FROM 's3://{bucket}/x/' "
            "CREDENTIALS 'aws_access_key_id=A;aws_secret_access_key=B' FORMAT AS JSON 'auto'"
        )
    conn.rollback()


def test_copy_in_autocommit_commits_by_itself(connect, s3, bucket) -> None:
    put(s3, bucket, "ac/1.json", '{"id": 7}\n')
    conn = connect()
    conn.autocommit = True
    cur = conn.cursor()
    make_table(cur)
    cur.execute(copy_sql(f"s3://{bucket}/ac/", "auto"))
    other = connect()
    assert rows(other.cursor(), "SELECT id FROM t") == [(7,)]
    other.rollback()


def test_a_hostile_url_in_a_copys_error_is_never_run_as_sql(connect, s3, bucket) -> None:
    # A manifest (anyone who can write to the bucket) names a missing mandatory file whose
    # URL would close the rehearsal's old dollar-quoted error statement, with a literal that a
    # backslash ends under standard_conforming_strings = off, and drop the table.
    hostile = (
        f"s3://{bucket}/gone/\\'; EXCEPTION WHEN others THEN NULL; END $rehearsal$; "
        "DROP TABLE t; -- $$ $r0123456789abcdef$"
    )
    put(s3, bucket, "h.manifest", json.dumps({"entries": [{"url": hostile, "mandatory": True}]}))
    conn = connect()
    conn.autocommit = True  # what the statement ran would be committed at once
    cur = conn.cursor()
    make_table(cur)
    cur.execute("SET standard_conforming_strings = off")
    with pytest.raises(redshift_connector.Error) as caught:
        cur.execute(copy_sql(f"s3://{bucket}/h.manifest", "auto", "MANIFEST"))
    (fields,) = caught.value.args  # the ErrorResponse's fields
    assert fields["M"] == f"the manifest's mandatory file {hostile} does not exist"
    assert fields["C"] == "58030"
    other = connect()
    assert rows(other.cursor(), "SELECT COUNT(*) FROM t") == [(0,)]  # t is still there
    other.rollback()


def test_a_bad_startup_packet_is_refused_with_08p01(rehearsal, connect) -> None:
    for data in (struct.pack("!i", 1 << 30), struct.pack("!ii", 8, 12345)):
        with socket.create_connection(("127.0.0.1", rehearsal), timeout=10) as sock:
            sock.sendall(data)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received[:1] == b"E"
        fields = wire.error_fields(received[5:])
        assert (fields["S"], fields["C"]) == ("FATAL", "08P01")
    # The server still serves clients that keep to the protocol.
    cur = connect().cursor()
    assert rows(cur, "SELECT 1") == [(1,)]
