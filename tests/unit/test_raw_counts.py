"""The benchmarks' count straight from the files agrees with the generator's manifest, and
its comparison names each count the warehouse got wrong."""

from __future__ import annotations

from datetime import date

from benchmarks.raw_counts import compare, raw_counts
from sparkify.local.generate.dataset import generate


def test_raw_counts_agree_with_the_generators_own(tmp_path) -> None:
    manifest = generate(
        tmp_path, start=date(2018, 11, 1), days=2, events_per_hour=20, songs=60,
        seed=5, match_rate=0.3,
    )  # fmt: skip
    counts = raw_counts(tmp_path)
    totals = manifest["totals"]
    assert counts["events"] == totals["events"]
    assert counts["plays"] == totals["plays"]
    assert counts["plays_matched"] == totals["plays_matched"] > 0
    assert counts["song_files"] == totals["song_files"] == 60
    first_day = raw_counts(tmp_path, date(2018, 11, 1), date(2018, 11, 1))
    assert 0 < first_day["events"] < counts["events"]


def test_compare_names_what_differs() -> None:
    counts = {"events": 10, "plays": 8, "plays_matched": 2, "song_files": 5, "songs": 5}
    summary = {
        "tables": {"staging_events": 10, "songplays": 7, "songs": 5},
        "lines": {"read": 10, "rejected": 0},
        "songplays_matched": 2,
    }
    assert compare(counts, summary) == {"plays": (8, 7)}
    summary["tables"]["songplays"] = 8
    assert compare(counts, summary) == {}
