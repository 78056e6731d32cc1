"""``sparkify generate``: a synthetic data set in the original export layout.

Writes, under ``--out``:

- ``log_data/YYYY/MM/YYYY-MM-DD-events.json``: one JSON Lines file per UTC day,
  byte for byte in the exporter's format (compact, ASCII, ``\\/``, no newline
  after the last line), from a simulation of listening sessions with a daily
  rhythm, so night hours are often empty;
- ``song_data/A/B/C/TR….json``: the song catalogue, one object per file;
- ``generator_manifest.json``: options, totals, per-hour expected counts and,
  with ``--dirty``, every injected defect (see ``sparkify.local.generate.dirty``).

The same options and seed give the same bytes. Events stream to disk hour by
hour, so a month at a million events a day runs in constant memory.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sparkify.local.generate.catalogue import (
    IdMaker,
    build_catalogue,
    build_off_catalogue,
    build_users,
    encode_json,
)
from sparkify.local.generate.dirty import (
    COUNTERS,
    FILE_KINDS,
    DayFileWriter,
    Defects,
)
from sparkify.local.generate.file_defects import write_empty_file, write_song_defects
from sparkify.local.generate.sessions import (
    HOURLY_WEIGHT,
    MEAN_SESSION_EVENTS,
    Simulator,
    encode_plays,
    poisson,
)

MANIFEST = "generator_manifest.json"


def generate(
    out: Path,
    *,
    start: date = date(2018, 11, 1),
    days: int = 3,
    events_per_hour: float = 12.0,
    songs: int = 300,
    seed: int = 42,
    match_rate: float = 0.1,
    dirty: float = 0.0,
    hostile: bool = False,
    progress: bool = False,
    overwrite: bool = False,
) -> dict:
    """Write a synthetic data set under ``out``; returns the manifest (also written).

    :param start: first UTC day of events
    :param days: number of daily log files
    :param events_per_hour: mean events per hour over the day (the daily rhythm and
        noise spread them: a default day has empty night hours)
    :param songs: catalogue size
    :param seed: the same seed and options give the same bytes
    :param match_rate: share of song plays that are catalogue songs
    :param dirty: share of event lines given a production defect (0 for none)
    :param hostile: deal hostile lines among the defects too (``dirty.HOSTILE_KINDS``)
    :param progress: show a progress bar on stderr
    :param overwrite: replace a data set already in ``out`` (else ``FileExistsError``)
    """
    _validate(days=days, events_per_hour=events_per_hour, songs=songs)
    if not 0 <= match_rate <= 1 or not 0 <= dirty <= 0.5:
        raise ValueError("match_rate must be in [0, 1] and dirty in [0, 0.5]")
    if hostile and not dirty:
        raise ValueError("hostile lines are dealt among the defects: give dirty a share too")
    out = Path(out)
    _prepare(out, overwrite)
    start_s = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())

    # Independent streams: a dirty run has exactly the clean run's events and songs.
    rng_songs = random.Random(f"sparkify:{seed}:songs")
    rng_events = random.Random(f"sparkify:{seed}:events")
    ids = IdMaker(rng_songs)
    catalogue = build_catalogue(rng_songs, ids, songs)
    for song in catalogue:
        path = out / song.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(encode_json(song.as_export()), encoding="ascii")
    triples = {(s.title, s.artist_name, s.duration) for s in catalogue}
    off = build_off_catalogue(
        rng_songs, min(50_000, max(1_000, round(events_per_hour * 48))), catalogue
    )
    users = build_users(rng_songs, max(100, round(events_per_hour * 24 / 20)), start_s)
    sim = Simulator(
        rng_events,
        users,
        encode_plays(((s.title, s.artist_name, s.duration) for s in catalogue), True),
        encode_plays(off, False),
        match_rate,
    )
    defects = None
    if dirty > 0:
        rng_dirty = random.Random(f"sparkify:{seed}:dirty")
        defects = Defects(dirty, rng_dirty, lambda t, a, n: (t, a, n) in triples, hostile=hostile)

    day_totals, partitions = [], {}
    with _ProgressBar(progress, days * 24) as advance:
        for offset in range(days):
            day = start + timedelta(days=offset)
            kind = FILE_KINDS[offset % len(FILE_KINDS)] if defects else None
            writer = DayFileWriter(out, day, defects, kind)
            if defects is not None and offset == 0:
                write_empty_file(out, day, defects)
            day_factor = rng_events.lognormvariate(-0.02, 0.2)
            day_s = start_s + offset * 86400
            for hour in range(24):
                rate = events_per_hour * HOURLY_WEIGHT[hour] * day_factor
                rate *= rng_events.lognormvariate(-0.045, 0.3)  # hour-to-hour weather
                sim.start_sessions(
                    day_s + hour * 3600, poisson(rng_events, rate / MEAN_SESSION_EVENTS)
                )
                sim.drain((day_s + (hour + 1) * 3600) * 1000, writer.add)
                advance()
            summary = writer.close()
            if summary["lines"] == 0:  # no events that day: the exporter writes no file
                (out / writer.rel).unlink()
                summary["file"] = None
            day_totals.append({"day": day.isoformat(), **summary})
            partitions.update(writer.partitions())

    song_totals = {"files": len(catalogue), "catalogue": len(catalogue), "staged": len(catalogue)}
    song_totals |= {"coerced": 0, "rejected": 0}
    if defects is not None:
        n_bad = max(5, round(dirty * songs))
        extra = write_song_defects(out, ids.with_rng(defects.rng), defects, n_bad)
        song_totals = {key: song_totals[key] + extra.get(key, 0) for key in song_totals}

    manifest = _manifest(
        options={
            "start": start.isoformat(),
            "days": days,
            "events_per_hour": events_per_hour,
            "songs": songs,
            "match_rate": match_rate,
            "seed": seed,
            "dirty": dirty,
            "hostile": hostile,
        },
        day_totals=day_totals,
        partitions=partitions,
        song_totals=song_totals,
        defects=defects.records if defects else [],
    )
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def _manifest(*, options, day_totals, partitions, song_totals, defects) -> dict:
    sums = {key: sum(p[key] for p in partitions.values()) for key in COUNTERS}
    expected = {key: sums[key] for key in ("staged", "coerced", "rejected", "duplicate")}
    expected["blank"] = sum(d["blank_lines"] for d in day_totals)
    expected |= {key: sums[key] for key in ("plays_staged", "plays_matched_staged")}
    return {
        "generator": "sparkify.local.generate.dataset",
        "options": options,
        "totals": {
            "events": sums["events"],
            "plays": sums["plays"],
            "plays_matched": sums["plays_matched"],
            "lines": sum(d["lines"] for d in day_totals),
            "log_files": sum(1 for d in day_totals if d["file"]),
            "song_files": song_totals["files"],
        },
        # Every log line is one of: staged, coerced, rejected, duplicate, blank.
        "outcomes": expected,
        "days": day_totals,
        "partitions": partitions,
        "songs": song_totals,
        "defects": defects,
    }


def _validate(*, days: int, events_per_hour: float, songs: int) -> None:
    if days < 1 or events_per_hour < 0 or songs < 0:
        raise ValueError("days must be >= 1, events_per_hour and songs >= 0")


def _prepare(out: Path, overwrite: bool) -> None:
    """Refuse to mix data sets; with ``overwrite`` remove only what a previous run wrote."""
    ours = [out / "log_data", out / "song_data", out / MANIFEST]
    existing = [p for p in ours if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds a data set ({existing[0].name}); use overwrite")
    for path in existing:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)


class _ProgressBar:
    """A rich progress bar over hours on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(stderr=True), transient=False)
        self._bar.__enter__()
        task = self._bar.add_task("generating events (hours)", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)
