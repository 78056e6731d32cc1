from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sparkify.pipeline.staging.lines import numbered_lines


def test_lines_across_chunk_boundaries_keep_numbers() -> None:
    data = b'{"a":1}\n{"b":2}\r\n\n{"c":3}'
    for size in (1, 2, 3, 7, 100):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert list(numbered_lines(chunks)) == [
            (1, b'{"a":1}'),
            (2, b'{"b":2}\r'),
            (3, b""),
            (4, b'{"c":3}'),
        ]


def test_a_stray_carriage_return_does_not_split_a_line() -> None:
    assert list(numbered_lines([b'{"a":"x\ry"}\n'])) == [(1, b'{"a":"x\ry"}')]


def _reference(data: bytes, max_line: int) -> list[tuple[int, bytes]]:
    """What numbered_lines must give: split on \\n, each line cut to max_line + 1 bytes."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [(i, part[: max_line + 1]) for i, part in enumerate(parts, 1)]


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"\n")),
    size=st.integers(min_value=1, max_value=40),
    max_line=st.integers(min_value=0, max_value=50),
)
def test_any_bytes_any_chunking_give_every_line_cut_to_its_limit(
    data: bytes, size: int, max_line: int
) -> None:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    assert list(numbered_lines(chunks, max_line)) == _reference(data, max_line)


def test_a_line_longer_than_the_limit_is_cut_and_the_next_line_kept() -> None:
    long = b"x" * 5000
    chunks = [long[i : i + 7] for i in range(0, len(long), 7)] + [b"\n{}\n"]
    assert list(numbered_lines(chunks, 100)) == [(1, b"x" * 101), (2, b"{}")]


def test_a_newline_free_object_is_held_only_up_to_the_limit() -> None:
    """Chunks of a huge line stream past: nothing beyond max_line + 1 bytes is joined."""
    seen = []

    def chunks():
        for _ in range(10_000):
            chunk = b"y" * 4096
            seen.append(len(chunk))
            yield chunk

    ((line_no, line),) = list(numbered_lines(chunks(), 1000))
    assert (line_no, len(line)) == (1, 1001)
    assert len(seen) == 10_000
