"""Split a byte stream into numbered lines without holding the object in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

CHUNK = 1 << 20


def numbered_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_no, line)`` for every ``\\n``-terminated line, 1-based, ending kept off.

    Only ``\\n`` ends a line (a stray ``\\r`` inside a value must not split a record);
    the last line may lack its newline, as in the original export.
    """
    line_no = 0
    rest = b""
    for chunk in chunks:
        if not chunk:
            continue
        data = rest + chunk if rest else chunk
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            line_no += 1
            yield line_no, data[start:end]
            start = end + 1
        rest = data[start:]
    if rest:
        yield line_no + 1, rest
