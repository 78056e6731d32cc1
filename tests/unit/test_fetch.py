"""``objects.fetch_whole``: song files fetched concurrently, handed over in order, bounded."""

from __future__ import annotations

import threading
import time

import pytest

from sparkify.pipeline.staging.objects import SourceObject, announced, fetch_whole


class SlowSource:
    """Chunks after a delay that shrinks with the key, so later keys finish first."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.started: list[str] = []
        self.lock = threading.Lock()

    def chunks(self, key: str):
        with self.lock:
            self.started.append(key)
        index = int(key.split("-")[1])
        time.sleep(0.002 * (self.n - index) / self.n)
        if key == "k-13-bad":
            raise OSError(f"cannot read {key}")
        yield key.encode()
        yield b"|end"


def objects(n: int, bad: int | None = None) -> list[SourceObject]:
    return [SourceObject(f"k-{i}-bad" if i == bad else f"k-{i}", "etag", 1) for i in range(n)]


def test_contents_come_in_the_order_given_whatever_finishes_first():
    listed = objects(50)
    got = list(fetch_whole(SlowSource(50), listed, workers=8))
    assert [obj for obj, _ in got] == listed
    assert [content for _, content in got] == [f"k-{i}|end".encode() for i in range(50)]


def test_fetching_runs_at_most_twice_the_workers_ahead_of_the_consumer():
    source = SlowSource(100)
    stream = fetch_whole(source, objects(100), workers=4)
    next(stream)
    time.sleep(0.05)  # let every submitted fetch start
    assert len(source.started) <= 2 * 4 + 1
    stream.close()


def test_a_failed_fetch_raises_for_that_object():
    with pytest.raises(OSError, match="k-13-bad"):
        list(fetch_whole(SlowSource(30), objects(30, bad=13), workers=4))


class HeadSource:
    def __init__(self, present: dict[str, str]) -> None:
        self.present = present
        self.asked: list[str] = []

    def head(self, key: str) -> SourceObject | None:
        self.asked.append(key)
        etag = self.present.get(key)
        return None if etag is None else SourceObject(key, etag, 10)


def test_announced_song_files_are_looked_up_one_by_one_never_listed():
    source = HeadSource({"song_data/A/a.json": "e1", "song_data/B/b.json": "e2"})
    found = announced(
        source,
        [
            "song_data/B/b.json",
            "song_data/A/a.json",
            "song_data/gone.json",
            "song_data/A/a.json",
            "log_data/2018/11/01/00/x.json",
            "song_data/notes.txt",
        ],
        "song_data/",
    )
    assert found == [
        SourceObject("song_data/A/a.json", "e1", 10),
        SourceObject("song_data/B/b.json", "e2", 10),
    ]
    # Outside the prefix or not JSON: not even asked for; each key asked once.
    assert sorted(source.asked) == [
        "song_data/A/a.json",
        "song_data/B/b.json",
        "song_data/gone.json",
    ]
