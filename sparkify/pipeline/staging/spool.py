"""Rejected lines held between a row COPY and the reject COPY after it, in bounded memory.

One connection runs one COPY at a time, so rejects wait until the rows are copied. An object
of a million bad lines (or a catalogue of a million bad song files) would hold a million
reject texts; the spool keeps them in memory up to ``max_memory`` bytes and on a temporary
file past that.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import msgspec

MAX_MEMORY = 8 << 20
_HEADER = 4  # bytes of each record's length


class RejectSpool:
    """``(source_key, line_no, reason, raw_text)`` of rejects, in the order added."""

    def __init__(self, max_memory: int = MAX_MEMORY) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=max_memory)  # noqa: SIM115 (closed by close())
        self._encode = msgspec.msgpack.Encoder().encode
        self.count = 0

    def append(self, source_key: str, line_no: int, reason: str, raw_text: str) -> None:
        data = self._encode((source_key, line_no, reason, raw_text))
        self._file.write(len(data).to_bytes(_HEADER, "big"))
        self._file.write(data)
        self.count += 1

    @property
    def on_disk(self) -> bool:
        """Whether the spool has spilled past its memory."""
        return bool(getattr(self._file, "_rolled", False))

    def __iter__(self) -> Iterator[tuple[str, int, str, str]]:
        decode = msgspec.msgpack.Decoder(tuple[str, int, str, str]).decode
        self._file.seek(0)
        while header := self._file.read(_HEADER):
            yield decode(self._file.read(int.from_bytes(header, "big")))
        self._file.seek(0, 2)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RejectSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
