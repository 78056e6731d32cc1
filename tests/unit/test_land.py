"""Landing: hourly repartition by ``ts``, nothing lost or changed, idempotent uploads.

S3 is moto's in-process mock; no network.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from sparkify.cli.land import _run
from sparkify.local.generate.dataset import generate
from sparkify.local.land import file_day, land, line_hour, split_by_hour
from tests.unit.moto_s3 import mocked_bucket

BUCKET = "sparkify-unit"
BOM = b"\xef\xbb\xbf"
H13 = int(datetime(2018, 11, 2, 13, 5, tzinfo=UTC).timestamp() * 1000) + 796
H14 = H13 + 3_600_000


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    with mocked_bucket(monkeypatch, BUCKET) as client:
        yield client


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("landing")
    manifest = generate(
        out,
        start=date(2018, 11, 1),
        days=3,
        events_per_hour=15,
        songs=40,
        seed=3,
        match_rate=0.2,
        dirty=0.1,
    )
    return out, manifest


def _objects(s3, prefix: str = "") -> dict[str, bytes]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
    return out


def _source_lines(path: Path) -> list[bytes]:
    """A file's non-blank lines, bytes as they are (a BOM or a \\r included)."""
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]


def _is_subsequence(part: list[bytes], whole: list[bytes]) -> bool:
    it = iter(whole)
    return all(any(line == candidate for candidate in it) for line in part)


# -- pure functions ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "hour"),
    [
        (b'{"ts":%d,"page":"Home"}' % H13, 13),
        (BOM + b'{"ts":%d}' % H13, 13),
        (b'{"ts":%d}\r' % H14, 14),
        (b'{"ts":"%d"}' % H14, 14),
        (b'{"ts":%d.0}' % H13, 13),
        (b'{"page":"Home","ts":%d,"extra":{"a":[1]}}' % H14, 14),
    ],
)
def test_line_hour_reads_ts_like_staging(line: bytes, hour: int) -> None:
    assert line_hour(line) == datetime(2018, 11, 2, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    "line",
    [
        b"<html>502</html>",
        b'{"ts":%d' % H13,
        b'[{"ts":%d}]' % H13,
        b'"{\\"ts\\":1}"',
        b"null",
        b'{"page":"Home"}',
        b'{"ts":null}',
        b'{"ts":"yesterday"}',
        b'{"ts":%d.5}' % H13,
        b'{"ts":true}',
        b'{"ts":{"value":1}}',
        b'{"ts":1e30}',
        b'{"ts":100000000000000000000}',
    ],
)
def test_line_hour_is_none_when_time_cannot_be_read(line: bytes) -> None:
    assert line_hour(line) is None


def test_file_day_from_the_export_name() -> None:
    assert file_day(Path("2018-11-02-events.json")) == date(2018, 11, 2)
    assert file_day(Path("2018-11-02-events-empty.json")) == date(2018, 11, 2)
    assert file_day(Path("events.json")) is None
    assert file_day(Path("2018-13-02-events.json")) is None


def test_split_by_hour_keeps_bytes_order_and_sends_unreadable_lines_to_hour_00(tmp_path) -> None:
    lines = [
        BOM + b'{"ts":%d,"n":1}' % H13,
        b'{"ts":%d,"n":2}' % H14,
        b"",
        b"not json",
        b'{"ts":%d,"n":3}\r' % H13,
        b"   ",
        b'{"n":4}',
        b'{"ts":%d,"n":5}' % H14,
    ]
    source = tmp_path / "2018-11-02-events.json"
    source.write_bytes(b"\n".join(lines))  # the last line has no newline
    work = tmp_path / "work"
    work.mkdir()
    result = split_by_hour(source, date(2018, 11, 2), work)
    assert (result.lines, result.blank, result.unreadable) == (6, 2, 2)
    got = {part.hour.hour: part.path.read_bytes() for part in result.parts}
    assert got == {
        0: b'not json\n{"n":4}\n',
        13: BOM + b'{"ts":%d,"n":1}\n{"ts":%d,"n":3}\r\n' % (H13, H13),
        14: b'{"ts":%d,"n":2}\n{"ts":%d,"n":5}\n' % (H14, H14),
    }
    assert all(part.hour.date() == date(2018, 11, 2) for part in result.parts)
    assert sum(part.lines for part in result.parts) == 6


def test_a_line_of_another_day_lands_in_its_own_hour(tmp_path) -> None:
    late = H13 + 86_400_000  # the next day, same hour
    source = tmp_path / "2018-11-02-events.json"
    source.write_bytes(b'{"ts":%d}\n{"ts":%d}' % (H13, late))
    work = tmp_path / "w"
    work.mkdir()
    hours = [p.hour for p in split_by_hour(source, date(2018, 11, 2), work).parts]
    assert hours == [datetime(2018, 11, 2, 13, tzinfo=UTC), datetime(2018, 11, 3, 13, tzinfo=UTC)]


# -- landing a generated data set ---------------------------------------------------------
def test_every_line_lands_once_in_the_hour_of_its_ts(s3, dataset) -> None:
    root, manifest = dataset
    report = land(root, bucket=BUCKET, s3_client=s3)
    objects = _objects(s3, "log_data/")
    landed_by_file: dict[str, list[bytes]] = defaultdict(list)
    unreadable = 0
    for key, body in objects.items():
        _, yyyy, mm, dd, hh, name = key.split("/")
        hour = datetime(int(yyyy), int(mm), int(dd), int(hh), tzinfo=UTC)
        assert body.endswith(b"\n")
        lines = body[:-1].split(b"\n")
        for line in lines:
            when = line_hour(line)
            if when is None:
                unreadable += 1
                assert hour == datetime.combine(file_day(Path(name)), datetime.min.time(), UTC)
            else:
                assert when == hour
        landed_by_file[name] += lines
        source = next((root / "log_data").rglob(name))
        assert _is_subsequence(lines, _source_lines(source)), f"{key} keeps the original order"
    total_in = 0
    for path in (root / "log_data").rglob("*.json"):
        source_lines = _source_lines(path)
        total_in += len(source_lines)
        assert Counter(landed_by_file.get(path.name, [])) == Counter(source_lines), path.name
    blank = manifest["outcomes"]["blank"]
    assert report["lines"] == total_in == manifest["totals"]["lines"] - blank
    assert report["blank_lines"] == blank > 0
    assert report["lines_unreadable_time"] == unreadable > 0
    assert report["empty_files"] == ["log_data/2018/11/2018-11-01-events-empty.json"]
    assert not any("events-empty" in key for key in objects)


def test_landed_hours_agree_with_the_generators_partitions(s3, dataset) -> None:
    root, manifest = dataset
    land(root, bucket=BUCKET, s3_client=s3)
    per_hour: Counter[str] = Counter()
    for key, body in _objects(s3, "log_data/").items():
        _, yyyy, mm, dd, hh, _name = key.split("/")
        per_hour[f"{yyyy}-{mm}-{dd}T{hh}:00:00"] += body.count(b"\n")
    expected = {k: p["lines"] for k, p in manifest["partitions"].items() if p["lines"]}
    assert dict(per_hour) == expected
    for defect in manifest["defects"]:
        if "partition" in defect:
            assert per_hour[defect["partition"]] > 0


def test_songs_keep_their_keys_and_bytes(s3, dataset) -> None:
    root, _ = dataset
    land(root, bucket=BUCKET, s3_client=s3)
    songs = _objects(s3, "song_data/")
    local = {p.relative_to(root).as_posix(): p for p in (root / "song_data").rglob("*.json")}
    assert set(songs) == set(local)
    assert all(songs[key] == local[key].read_bytes() for key in songs)


def test_landing_twice_uploads_nothing_and_a_change_reuploads_only_its_hour(
    s3, dataset, tmp_path
) -> None:
    root, _ = dataset
    first = land(root, bucket=BUCKET, s3_client=s3)
    assert first["uploaded"] == first["objects"] > 0
    assert first["unchanged"] == 0
    second = land(root, bucket=BUCKET, s3_client=s3)
    assert second["uploaded"] == 0
    assert second["unchanged"] == first["objects"]

    # A copy of the data set with one more event in 2018-11-02 13:xx.
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    day_file = copy / "log_data/2018/11/2018-11-02-events.json"
    event = {"ts": int(datetime(2018, 11, 2, 13, 59, tzinfo=UTC).timestamp() * 1000)}
    day_file.write_bytes(day_file.read_bytes() + b"\n" + json.dumps(event).encode())
    third = land(copy, bucket=BUCKET, s3_client=s3)
    assert third["uploaded"] == 1
    body = s3.get_object(Bucket=BUCKET, Key="log_data/2018/11/02/13/2018-11-02-events.json")
    assert body["Body"].read().endswith(json.dumps(event).encode() + b"\n")


def test_from_and_to_restrict_the_log_files_but_not_the_songs(s3, dataset) -> None:
    root, _ = dataset
    report = land(
        root, bucket=BUCKET, s3_client=s3, date_from=date(2018, 11, 2), date_to=date(2018, 11, 2)
    )
    keys = set(_objects(s3, "log_data/"))
    assert keys
    assert all(key.endswith("/2018-11-02-events.json") for key in keys)
    assert report["files"] == 1
    assert len(_objects(s3, "song_data/")) == report["song_files"] > 0
    later = land(root, bucket=BUCKET, s3_client=s3, date_from=date(2018, 11, 3))
    assert later["files"] == 1
    assert any(key.endswith("/2018-11-03-events.json") for key in _objects(s3, "log_data/"))


def test_cli_needs_a_bucket(monkeypatch, tmp_path) -> None:
    from sparkify.errors import CliError

    monkeypatch.delenv("SPARKIFY_BUCKET", raising=False)
    args = argparse.Namespace(
        source=tmp_path, bucket=None, date_from=None, date_to=None, quiet=True
    )
    with pytest.raises(CliError, match="SPARKIFY_BUCKET"):
        _run(args)


def test_small_puts_go_without_expect_continue_and_large_ones_keep_it(s3, tmp_path) -> None:
    from sparkify.local.land import EXPECT_CONTINUE_FROM

    sent: dict[str, dict] = {}

    def record(request, **_kwargs) -> None:  # a before-send handler returning a value answers
        sent[request.url.rsplit("/", 1)[-1]] = dict(request.headers)

    # Registered before landing's hook, which land() adds: the first PUT shows the order.
    s3.meta.events.register_last("before-send.s3.PutObject", record)
    small = tmp_path / "small"
    (small / "song_data/A").mkdir(parents=True)
    (small / "song_data/A/TRSMALL.json").write_text('{"song_id": "S1"}')
    log = small / "log_data/2018/11"
    log.mkdir(parents=True)
    big_line = json.dumps({"ts": H13, "pad": "x" * EXPECT_CONTINUE_FROM}).encode()
    (log / "2018-11-02-events.json").write_bytes(big_line + b"\n")
    land(small, bucket=BUCKET, s3_client=s3)
    assert "Expect" not in sent["TRSMALL.json"]
    assert sent["2018-11-02-events.json"].get("Expect") == b"100-continue"
    body = s3.get_object(Bucket=BUCKET, Key="song_data/A/TRSMALL.json")["Body"].read()
    assert body == b'{"song_id": "S1"}'


def test_a_stopped_landing_raises_before_its_next_object(s3, dataset) -> None:
    import threading

    from sparkify.local.land import LandingStopped

    root, _ = dataset
    stop = threading.Event()
    stop.set()
    with pytest.raises(LandingStopped):
        land(root, bucket=BUCKET, s3_client=s3, stop=stop)
    assert _objects(s3) == {}
