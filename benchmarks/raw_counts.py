"""What the warehouse must hold after a clean data set has gone through, counted straight
from its files with the standard library: no generator manifest, no code of the pipeline
(only which daily files the range takes is landing's, ``sparkify.local.land.log_files``).

For a data set without defects (every line a JSON object with a ``ts``, every song file one
object): the events are the non-blank lines of the range's daily log files; the plays their
``page == "NextSong"`` lines; a play is matched when a song file has its title, artist name
and length exactly (the contract's match, ``sql/load/load_songplays.sql``); the songs are
the distinct ``song_id`` of the song files.

``python -m benchmarks.raw_counts DIR [--from D --to D] [--summary demo.json]`` prints the
counts, and with ``--summary`` compares them with ``sparkify demo --json``'s and exits 1 on
a difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from sparkify.local.land import log_files


def raw_counts(source: Path, first: date | None = None, last: date | None = None) -> dict:
    source = Path(source)
    songs: set[str] = set()
    triples: set[tuple[Any, Any, Any]] = set()
    song_files = 0
    for path in (source / "song_data").rglob("*.json"):
        song = json.loads(path.read_bytes())
        song_files += 1
        songs.add(song["song_id"])
        triples.add((song["title"], song["artist_name"], song["duration"]))
    events = plays = matched = 0
    files, _unnamed = log_files(source, first, last)
    for path, _day in files:
        with path.open("rb") as lines:
            for line in lines:
                if not line.strip():
                    continue
                event = json.loads(line)
                events += 1
                if event.get("page") == "NextSong":
                    plays += 1
                    matched += (event.get("song"), event.get("artist"), event.get("length")) in (
                        triples
                    )
    return {
        "events": events,
        "plays": plays,
        "plays_matched": matched,
        "song_files": song_files,
        "songs": len(songs),
    }


def compare(counts: Mapping[str, int], summary: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Each raw count against the demo summary's (raw, warehouse); equal pairs are left out."""
    tables, lines = summary["tables"], summary["lines"]
    pairs = {
        "events read": (counts["events"], lines["read"]),
        "events staged": (counts["events"], tables["staging_events"]),
        "plays": (counts["plays"], tables["songplays"]),
        "plays matched": (counts["plays_matched"], summary["songplays_matched"]),
        "songs": (counts["songs"], tables["songs"]),
        "rejected": (0, lines["rejected"]),
    }
    return {name: pair for name, pair in pairs.items() if pair[0] != pair[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.raw_counts")
    parser.add_argument("source", type=Path)
    parser.add_argument("--from", dest="first", type=date.fromisoformat)
    parser.add_argument("--to", dest="last", type=date.fromisoformat)
    parser.add_argument("--summary", type=Path, help="sparkify demo --json output to check")
    args = parser.parse_args(argv)
    counts = raw_counts(args.source, args.first, args.last)
    print(json.dumps(counts))
    if args.summary is None:
        return 0
    differences = compare(counts, json.loads(args.summary.read_text()))
    for name, (raw, warehouse) in differences.items():
        print(f"{name}: {raw} in the files, {warehouse} in the warehouse")
    print("the summary agrees with the files" if not differences else "MISMATCH")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
