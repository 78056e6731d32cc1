"""A COPY carried out in a session (``load``): a failed COPY's message.

``fail_statement``: the message, whatever it holds, travels in an ErrorResponse, never in
SQL. The COPY itself, against PostgreSQL and S3: the integration tests.
"""

from __future__ import annotations

import struct

import pytest

from sparkify.local.redshift import wire
from sparkify.local.redshift.errors import BackendError
from sparkify.local.redshift.load import FAIL_STATEMENT
from sparkify.local.redshift.session import Session

HOSTILE = [
    "s3://b/x$rehearsal$; DROP TABLE t; --",
    "s3://b/\\''; EXCEPTION WHEN others THEN NULL; END $rehearsal$; DROP TABLE t; --",
    "$$ ; SELECT 1; $$ $r0123456789abcdef$ $ $$$ '' \\ ;",
    "the manifest's mandatory file s3://b/k\x00ey does not exist",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_failed_copys_message_travels_in_an_error_response_never_in_sql(text) -> None:
    sent: list[str] = []

    def backend_query(sql: str) -> list:
        sent.append(sql)
        error = wire.error_response("the Redshift rehearsal failed a COPY", "P0001")
        raise BackendError(error, b"E")

    session = Session(None, None)  # type: ignore[arg-type]
    session.backend_query = backend_query  # type: ignore[method-assign]
    with pytest.raises(BackendError) as caught:
        session.fail_statement(text, "58030")
    assert sent == [FAIL_STATEMENT]  # the same constant SQL, whatever the text
    fields = wire.error_fields(caught.value.error[5:])
    assert fields["M"] == text.replace("\x00", "\ufffd")
    assert (fields["S"], fields["C"]) == ("ERROR", "58030")
    assert caught.value.status == b"E"
    assert caught.value.error[:1] == b"E"
    (length,) = struct.unpack("!i", caught.value.error[1:5])
    assert length == len(caught.value.error) - 1


def test_a_malformed_sqlstate_becomes_xx000() -> None:
    def backend_query(sql: str) -> list:
        raise BackendError(wire.error_response("x"), b"I")

    session = Session(None, None)  # type: ignore[arg-type]
    session.backend_query = backend_query  # type: ignore[method-assign]
    with pytest.raises(BackendError) as caught:
        session.fail_statement("m", "58'; X")
    assert wire.error_fields(caught.value.error[5:])["C"] == "XX000"
