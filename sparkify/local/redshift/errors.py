"""The backend's errors, as the Redshift rehearsal passes them on to its client."""

from __future__ import annotations

from sparkify.local.redshift import wire

SERIALIZATION_SQLSTATE = "40001"


def as_redshift_error(body: bytes) -> bytes:
    """An ErrorResponse body, with PostgreSQL's serialization failure in Redshift's form.

    Redshift reports it as ``C=XX000, M=1023, D=Serializable isolation violation on table
    ...``; clients (``sparkify.pipeline.serialization``) recognise it by ``M``. Every other
    error passes unchanged.
    """
    fields = wire.error_fields(body)
    if fields.get("C") != SERIALIZATION_SQLSTATE:
        return body
    detail = (
        "Serializable isolation violation on table (Redshift rehearsal: PostgreSQL said "
        f"{fields.get('M', '')!r}{': ' + fields['D'] if fields.get('D') else ''})"
    )
    parts = {"S": "ERROR", "V": "ERROR", "C": "XX000", "M": "1023", "D": detail}
    return b"".join(k.encode() + wire.cstring(v) for k, v in parts.items()) + b"\x00"


class BackendError(Exception):
    """The backend answered with an error: the ErrorResponse to pass on, and its status."""

    def __init__(self, error: bytes, status: bytes) -> None:
        super().__init__(wire.error_fields(error[5:]).get("M", "error"))
        self.error = error
        self.status = status
