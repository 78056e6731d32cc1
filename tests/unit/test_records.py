"""The staging rules for raw lines: what is kept, coerced, or rejected and why."""

from __future__ import annotations

import json

import pytest

from sparkify.pipeline import records
from sparkify.pipeline.records import EVENT_COLUMNS, EventParser, Reject, SongParser, strip_line

GOOD = {
    "artist": "Skillet",
    "auth": "Logged In",
    "firstName": "Kevin",
    "gender": "M",
    "itemInSession": 0,
    "lastName": "Arellano",
    "length": 178.02404,
    "level": "free",
    "location": "Harrisburg-Carlisle, PA",
    "method": "PUT",
    "page": "NextSong",
    "registration": 1540006905796.0,
    "sessionId": 153,
    "song": "Monster (Album Version)",
    "status": 200,
    "ts": 1541126568796,
    "userAgent": '"Mozilla/5.0 (Macintosh)"',
    "userId": "66",
}


def parse(obj: object) -> tuple | Reject:
    return EventParser().parse(json.dumps(obj).encode())


def col(row: tuple, name: str) -> object:
    return row[EVENT_COLUMNS.index(name)]


def test_clean_line_keeps_every_field() -> None:
    row = parse(GOOD)
    assert not isinstance(row, Reject)
    assert col(row, "ts") == 1541126568796
    assert col(row, "user_agent") == '"Mozilla/5.0 (Macintosh)"'
    assert col(row, "registration") == 1540006905796.0
    assert len(row) == len(EVENT_COLUMNS)


def test_logged_out_event_with_nulls_and_empty_user_is_kept() -> None:
    event = {
        **GOOD,
        "userId": "",
        "firstName": None,
        "lastName": None,
        "gender": None,
        "location": None,
        "registration": None,
        "userAgent": None,
        "artist": None,
        "song": None,
        "length": None,
        "page": "Home",
        "auth": "Logged Out",
    }
    row = parse(event)
    assert col(row, "user_id") == ""
    assert col(row, "first_name") is None


@pytest.mark.parametrize(
    ("change", "column", "expected"),
    [
        ({"ts": "1541990217796"}, "ts", 1541990217796),
        ({"sessionId": 184.0}, "session_id", 184),
        ({"userId": 53}, "user_id", "53"),
        ({"song": 1999}, "song", "1999"),
        ({"artist": 2.5}, "artist", "2.5"),
        ({"itemInSession": " 7 "}, "item_in_session", 7),
    ],
)
def test_lossless_conversions_are_kept_and_counted(change, column, expected) -> None:
    parser = EventParser()
    row = parser.parse(json.dumps({**GOOD, **change}).encode())
    assert col(row, column) == expected
    assert parser.coerced == 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"not json at all", "not_json"),
        (b'{"ts": 1541990217796, "sessionId": 1', "not_json"),
        (b"[1, 2, 3]", "not_object"),
        (b'"a string"', "not_object"),
        # Bytes that are not UTF-8 are not JSON text: a reject, never a failed task.
        (b'{"ts": 1541990217796, "artist": "o\xffk"}', "not_json"),
        (b"\xff\xfe", "not_json"),
    ],
)
def test_unreadable_lines_are_rejected(line, reason) -> None:
    assert EventParser().parse(line) == Reject(reason)


@pytest.mark.parametrize("field", ["ts", "sessionId", "itemInSession", "page"])
def test_required_field_missing_or_null_is_rejected(field) -> None:
    missing = {k: v for k, v in GOOD.items() if k != field}
    assert parse(missing) == Reject(f"missing_field:{field}")
    assert parse({**GOOD, field: None}) == Reject(f"missing_field:{field}")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ts": "yesterday"}, "bad_type:ts"),
        ({"ts": 1541990217796.5}, "bad_type:ts"),
        ({"sessionId": {"id": 1}}, "bad_type:sessionId"),
        ({"artist": ["a", "b"]}, "bad_type:artist"),
        ({"length": "long"}, "bad_type:length"),
        ({"sessionId": 2**40}, "out_of_range:sessionId"),
        ({"song": "nul\u0000inside"}, "bad_text:song"),
    ],
)
def test_values_that_cannot_convert_are_rejected_naming_the_field(change, reason) -> None:
    assert parse({**GOOD, **change}) == Reject(reason)


def test_drift_reports_unmapped_and_absent_fields() -> None:
    parser = EventParser()
    extra = {**GOOD, "newField": 1}
    absent = {k: v for k, v in GOOD.items() if k != "location"}
    assert not isinstance(parser.parse(json.dumps(extra).encode()), Reject)
    assert not isinstance(parser.parse(json.dumps(absent).encode()), Reject)
    assert parser.drift.as_dict() == {"unmapped": {"newField": 1}, "absent": {"location": 1}}


def test_bom_and_crlf_are_stripped() -> None:
    assert strip_line(b"\xef\xbb\xbf{}\r") == b"{}"


def test_song_rules() -> None:
    song = {
        "num_songs": 1,
        "artist_id": "ARJNIUY12298900C91",
        "artist_latitude": None,
        "artist_location": "",
        "artist_longitude": None,
        "artist_name": 1990,
        "song_id": "SOZPNVK12AAFF4249A",
        "title": 42,
        "duration": 103.33995,
        "year": 0,
    }
    parser = SongParser()
    row = parser.parse(json.dumps(song).encode())
    assert not isinstance(row, Reject)
    assert "1990" in row
    assert "42" in row
    assert parser.coerced == 1
    assert parser.parse(json.dumps({**song, "duration": "abc"}).encode()) == Reject(
        "bad_type:duration"
    )
    no_id = {k: v for k, v in song.items() if k != "song_id"}
    assert parser.parse(json.dumps(no_id).encode()) == Reject("missing_field:song_id")
    assert parser.parse(b'[{"song_id": "x"}]') == Reject("not_object")


def test_the_fast_path_declares_the_fields_in_the_rows_order() -> None:
    """The fast path returns the decoded struct's tuple as the row: same order, same names."""
    fields = tuple(key for key, _, _ in records.EVENT_FIELDS)
    assert records._CleanEvent.__struct_fields__ == fields
