from __future__ import annotations

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
