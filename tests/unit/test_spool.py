"""``RejectSpool``: rejects kept in order, in memory up to a bound, on disk past it."""

from __future__ import annotations

from sparkify.pipeline.staging.spool import RejectSpool


def test_rejects_come_back_in_order_from_memory() -> None:
    with RejectSpool() as spool:
        spool.append("k", 1, "not_json", "{")
        spool.append("k", 7, "too_deep", "[[[")
        assert list(spool) == [("k", 1, "not_json", "{"), ("k", 7, "too_deep", "[[[")]
        assert spool.count == 2
        assert not spool.on_disk


def test_past_its_memory_the_spool_spills_to_disk_and_keeps_every_reject() -> None:
    text = "\u4e2d" * 4096
    with RejectSpool(max_memory=64 * 1024) as spool:
        for n in range(1000):
            spool.append(f"key{n % 3}", n, "line_too_long", text)
        assert spool.on_disk
        got = list(spool)
        assert len(got) == 1000
        assert got[999] == ("key0", 999, "line_too_long", text)
        # Read twice (a retried COPY), and appended to after reading.
        spool.append("key9", 1000, "not_json", "x")
        assert [r[1] for r in spool] == list(range(1001))
