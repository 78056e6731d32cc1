"""Defects of whole files: an empty log file beside a day's log, and damaged song files.

Each is recorded in the run's ``Defects`` with the outcome staging must reach, as the line
defects of ``sparkify.local.generate.dirty`` are.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sparkify.local.generate.catalogue import IdMaker, Song, encode_json, random_song
from sparkify.local.generate.dirty import NUMERIC_TITLES, Defects

SONG_KINDS = ("not_json", "not_object", "missing_field", "bad_value", "number_for_string")


def write_empty_file(out: Path, day: date, defects: Defects) -> str:
    """An empty file beside a day's log, as a producer that crashed before writing leaves."""
    rel = f"log_data/{day:%Y/%m}/{day:%Y-%m-%d}-events-empty.json"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_bytes(b"")
    defects.record(rel, None, "empty_file", "blank")
    return rel


def write_song_defects(out: Path, ids: IdMaker, defects: Defects, count: int) -> dict[str, int]:
    """``count`` extra, damaged song files (never ones the plays refer to); returns counts."""
    rng = defects.rng
    totals = {"files": 0, "staged": 0, "coerced": 0, "rejected": 0}
    for index in range(count):
        kind = SONG_KINDS[index % len(SONG_KINDS)]
        song: Song = random_song(rng, ids)
        obj: dict[str, object] = song.as_export()
        extra: dict[str, object] = {}
        if kind == "not_json":
            text = encode_json(obj)
            text = text[: rng.randint(1, len(text) - 1)]
            extra = {"reason": "not_json"}
        elif kind == "not_object":
            text = encode_json([obj])
            extra = {"reason": "not_object"}
        elif kind == "missing_field":
            del obj["song_id"]
            text = encode_json(obj)
            extra = {"field": "song_id", "reason": "missing_field:song_id"}
        elif kind == "bad_value":
            obj["duration"] = "abc"
            text = encode_json(obj)
            extra = {"field": "duration", "reason": "bad_type:duration"}
        else:
            name = rng.choice(("title", "artist_name", "artist_location"))
            obj[name] = rng.choice(NUMERIC_TITLES)
            text = encode_json(obj)
            extra = {"field": name}
        outcome = "coerced" if kind == "number_for_string" else "rejected"
        path = out / song.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="ascii")
        defects.record(song.path, 1, kind, outcome, **extra)
        totals["files"] += 1
        totals[outcome] += 1
    return totals
