"""Split a byte stream into numbered lines in linear time and bounded memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

CHUNK = 1 << 20
# The longest line staged (bytes, line ending excluded): Redshift's widest VARCHAR, into which
# its COPY reads each line; ``max_line_bytes`` in config/<env>.toml.
MAX_LINE_BYTES = 65535


def numbered_lines(
    chunks: Iterable[bytes], max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_no, line)`` for every ``\\n``-terminated line, 1-based, ending kept off.

    Only ``\\n`` ends a line (a stray ``\\r`` inside a value must not split a record);
    the last line may lack its newline, as in the original export.

    A line longer than ``max_line`` bytes is yielded cut to its first ``max_line + 1``
    bytes, so that ``len(line) > max_line`` tells the caller it was too long; the rest of it
    is skipped as it streams past. Every byte is looked at once (a line spanning many chunks
    is never re-joined or re-scanned), and at most one chunk plus ``max_line + 1`` bytes are
    held, whatever the object holds: a gigabyte without a newline included.
    """
    line_no = 0
    head: list[bytes] = []  # the start of a line that spans chunks, at most max_line + 1
    held = 0
    for chunk in chunks:
        if not chunk:
            continue
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            line_no += 1
            if head:
                room = max_line + 1 - held
                piece = chunk[start : min(end, start + room)] if room > 0 else b""
                yield line_no, b"".join([*head, piece])
                head, held = [], 0
            else:
                yield line_no, chunk[start : min(end, start + max_line + 1)]
            start = end + 1
        if start < len(chunk) and held <= max_line:
            piece = chunk[start : start + max_line + 1 - held]
            head.append(piece)
            held += len(piece)
    if head:
        yield line_no + 1, b"".join(head)
