"""What a hostile line costs: the parser's time per class at two sizes (linear: twice the
bytes, about twice the time), and the line splitter's time and peak memory over an object
with no newline at all. No stack: the parser and the splitter alone, in this process."""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import Any

from sparkify.pipeline.records import BOM, EventParser, judge_line
from sparkify.pipeline.staging.lines import MAX_LINE_BYTES, numbered_lines

BASE = {
    "artist": "Skillet", "auth": "Logged In", "firstName": "Kevin", "gender": "M",
    "itemInSession": 0, "lastName": "Arellano", "length": 178.02404, "level": "free",
    "location": "Harrisburg-Carlisle, PA", "method": "PUT", "page": "NextSong",
    "registration": 1540006905796.0, "sessionId": 153, "song": "Monster", "status": 200,
    "ts": 1541126568796, "userAgent": "Mozilla/5.0", "userId": "66",
}  # fmt: skip


def _line(**raw: str) -> bytes:
    text = json.dumps(BASE)[:-1]
    return (text + "".join(f', "{k}": {v}' for k, v in raw.items()) + "}").encode()


def _wide(chars: int) -> str:
    return json.dumps("\u4e2d" * chars, ensure_ascii=False)


# Each class as a function of n, the size that grows.
CLASSES = {
    "clean": lambda n: _line(song=json.dumps("x" * n)),
    "nested": lambda n: _line(extra="[" * n + "]" * n),
    "brackets_in_strings": lambda n: _line(extra=json.dumps("[" * n)),
    "digits_in_length": lambda n: _line(length="9" * n),
    "digit_text_then_junk": lambda n: _line(length='"' + "9" * n + 'x"'),
    "digit_text_ts": lambda n: _line(ts='"' + "9" * n + '"').replace(b'"ts": 1541126568796, ', b""),
    "unknown_fields": lambda n: _line(**{f"f{i}": "1" for i in range(n // 8)}),
    "bom_and_multibyte": lambda n: BOM + _line(song=_wide(n // 3)),
    "not_json": lambda n: b"{" + b"x" * n,
}  # fmt: skip
SIZES = (8_000, 32_000)


def _time(line: bytes, repeats: int) -> float:
    parse = EventParser().parse
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        judge_line(parse, line, MAX_LINE_BYTES)
        best = min(best, time.perf_counter() - started)
    return best


def parse_costs(repeats: int = 5) -> dict[str, dict[str, float]]:
    """Per class: microseconds at each size and the ratio of the two (4 is linear)."""
    out = {}
    for name, make in CLASSES.items():
        small, large = (make(n) for n in SIZES)
        t_small, t_large = _time(small, repeats), _time(large, repeats)
        out[name] = {
            "bytes_small": len(small),
            "bytes_large": len(large),
            "us_small": round(t_small * 1e6, 1),
            "us_large": round(t_large * 1e6, 1),
            "ratio": round(t_large / t_small, 2) if t_small else 0.0,
        }
    return out


def splitter(total_mib: int = 256, chunk: int = 1 << 20) -> dict[str, float]:
    """numbered_lines over ``total_mib`` MiB with no newline: time and peak Python memory."""

    def chunks():
        block = b"y" * chunk
        for _ in range(total_mib * (1 << 20) // chunk):
            yield block

    tracemalloc.start()
    started = time.perf_counter()
    lines = list(numbered_lines(chunks()))
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [(n, len(line)) for n, line in lines] == [(1, MAX_LINE_BYTES + 1)]
    return {"mib": total_mib, "seconds": round(seconds, 3), "peak_mib": round(peak / 2**20, 2)}


def run(repeats: int = 5) -> dict[str, Any]:
    costs = parse_costs(repeats)
    split = splitter()
    return {
        "hostile_parse_us": costs,
        "hostile_worst_ratio": max(c["ratio"] for c in costs.values()),
        "hostile_splitter_256mib_s": split["seconds"],
        "hostile_splitter_peak_mib": split["peak_mib"],
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
