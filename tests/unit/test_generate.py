"""The generator writes the original export's format, byte quirks included, and counts honestly.

The checks restate the source format here rather than importing the generator's own
tables, so a drift in the generator fails here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from sparkify.local.generate.dataset import generate

FIELDS = [
    "artist", "auth", "firstName", "gender", "itemInSession", "lastName", "length", "level",
    "location", "method", "page", "registration", "sessionId", "song", "status", "ts",
    "userAgent", "userId",
]  # fmt: skip
SONG_FIELDS = [
    "artist_id", "artist_latitude", "artist_location", "artist_longitude", "artist_name",
    "duration", "num_songs", "song_id", "title", "year",
]  # fmt: skip
# page: (method, status), from the sample export.
PAGES = {
    "NextSong": ("PUT", 200),
    "Home": ("GET", 200),
    "Login": ("PUT", 307),
    "Logout": ("PUT", 307),
    "Upgrade": ("GET", 200),
    "Downgrade": ("GET", 200),
    "Settings": ("GET", 200),
    "Save Settings": ("PUT", 307),
    "Help": ("GET", 200),
    "About": ("GET", 200),
    "Error": ("GET", 404),
    "Submit Upgrade": ("PUT", 307),
    "Submit Downgrade": ("PUT", 307),
}
USER_FIELDS = ("firstName", "lastName", "gender", "location", "registration", "userAgent")
START = date(2018, 11, 1)
DAYS = 3
OPTIONS = {
    "start": START,
    "days": DAYS,
    "events_per_hour": 25.0,
    "songs": 300,
    "match_rate": 0.25,
}


def _pairs(line: bytes) -> list[tuple[str, object]]:
    return json.loads(line, object_pairs_hook=list)


def _log_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "log_data").rglob("*.json") if p.stat().st_size)


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clean")
    return out, generate(out, seed=7, **OPTIONS)


@pytest.fixture(scope="module")
def events(clean: tuple[Path, dict]) -> list[tuple[Path, dict]]:
    root, _ = clean
    return [
        (path, dict(_pairs(line)))
        for path in _log_files(root)
        for line in path.read_bytes().split(b"\n")
    ]


@pytest.fixture(scope="module")
def catalogue(clean: tuple[Path, dict]) -> list[dict]:
    root, _ = clean
    return [json.loads(p.read_bytes()) for p in sorted((root / "song_data").rglob("*.json"))]


def test_layout_one_file_per_day_plus_songs_and_manifest(clean) -> None:
    root, manifest = clean
    names = sorted(p.relative_to(root).as_posix() for p in (root / "log_data").rglob("*"))
    assert [n for n in names if n.endswith(".json")] == [
        f"log_data/2018/11/2018-11-0{d}-events.json" for d in (1, 2, 3)
    ]
    assert (root / "generator_manifest.json").is_file()
    assert json.loads((root / "generator_manifest.json").read_text()) == manifest
    song_files = list((root / "song_data").rglob("*.json"))
    assert len(song_files) == 300 == manifest["totals"]["song_files"]


def test_log_lines_have_the_documented_keys_order_and_types(clean) -> None:
    root, _ = clean
    kinds: dict[str, set[str]] = defaultdict(set)
    for path in _log_files(root):
        raw = path.read_bytes()
        assert raw.startswith(b"{"), "no byte-order mark"
        assert raw.endswith(b"}"), "no newline after the last line"
        assert b"\r" not in raw
        assert b"\n\n" not in raw
        for line in raw.split(b"\n"):
            pairs = _pairs(line)
            assert [key for key, _ in pairs] == FIELDS
            for key, value in pairs:
                kinds[key].add(type(value).__name__)
    assert kinds == {
        "artist": {"str", "NoneType"},
        "auth": {"str"},
        "firstName": {"str", "NoneType"},
        "gender": {"str", "NoneType"},
        "itemInSession": {"int"},
        "lastName": {"str", "NoneType"},
        "length": {"float", "NoneType"},
        "level": {"str"},
        "location": {"str", "NoneType"},
        "method": {"str"},
        "page": {"str"},
        "registration": {"float", "NoneType"},
        "sessionId": {"int"},
        "song": {"str", "NoneType"},
        "status": {"int"},
        "ts": {"int"},
        "userAgent": {"str", "NoneType"},
        "userId": {"str"},
    }


def test_bytes_are_in_the_exporters_dialect(clean) -> None:
    root, _ = clean
    raw = b"\n".join(p.read_bytes() for p in _log_files(root))
    assert raw.isascii(), "non-ASCII text is written as \\uXXXX"
    assert rb"\u00" in raw, "some names carry accents or mojibake"
    assert re.search(rb"(?<!\\)/", raw) is None, "every / is escaped as \\/"
    for line in raw.split(b"\n"):  # compact separators, \uXXXX escapes, \/ for every slash
        canonical = json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=True)
        assert line == canonical.replace("/", "\\/").encode()
    assert set(re.findall(rb'"registration":(null|\d{13}\.0),', raw)) > {b"null"}
    assert len(re.findall(rb'"registration":', raw)) == len(
        re.findall(rb'"registration":(?:null|\d{13}\.0),', raw)
    )
    lengths = re.findall(rb'"length":([^,]+),', raw)
    assert all(v == b"null" or re.fullmatch(rb"\d+\.\d{1,5}", v) for v in lengths)
    assert all(re.fullmatch(rb"\d{13}", v) for v in re.findall(rb'"ts":([^,]+),', raw))


def test_every_event_falls_on_its_files_day_in_time_order(events) -> None:
    for path, event in events:
        day = date.fromisoformat(path.name[:10])
        assert datetime.fromtimestamp(event["ts"] / 1000, UTC).date() == day
    for path in {p for p, _ in events}:
        times = [e["ts"] for p, e in events if p == path]
        assert times == sorted(times)


def test_logged_out_events_have_no_user(events) -> None:
    logged_out = [e for _, e in events if e["auth"] == "Logged Out"]
    assert logged_out, "some events are logged out"
    assert {e["auth"] for _, e in events} == {"Logged In", "Logged Out"}
    for _, e in events:
        if e["auth"] == "Logged Out":
            assert e["userId"] == ""
            assert all(e[key] is None for key in USER_FIELDS)
        else:
            assert e["userId"].isdigit()
            assert all(e[key] is not None for key in USER_FIELDS)


def test_user_agents_with_a_comma_keep_their_quotes(events) -> None:
    agents = {e["userAgent"] for _, e in events if e["userAgent"]}
    with_comma = {a for a in agents if "," in a}
    assert with_comma, "agents with a comma occur"
    assert agents - with_comma, "agents without a comma occur"
    for agent in agents:
        quoted = agent.startswith('"') and agent.endswith('"')
        assert quoted == ("," in agent), agent


def test_song_fields_only_on_song_plays_and_pages_as_documented(events) -> None:
    pages = Counter(e["page"] for _, e in events)
    assert set(pages) <= set(PAGES)
    assert 0.75 <= pages["NextSong"] / len(events) <= 0.9
    assert pages["Home"] > pages["Logout"] > 0
    for _, e in events:
        assert (e["method"], e["status"]) == PAGES[e["page"]]
        song_fields = (e["artist"], e["song"], e["length"])
        if e["page"] == "NextSong":
            assert None not in song_fields
            assert e["length"] > 0
        else:
            assert song_fields == (None, None, None)
        assert e["level"] in ("free", "paid")


def test_levels_change_only_through_submit_pages(events) -> None:
    by_user = defaultdict(list)
    for _, e in sorted(events, key=lambda pe: (pe[1]["ts"], pe[1]["sessionId"])):
        if e["userId"]:
            by_user[e["userId"]].append(e)
    switched = 0
    for history in by_user.values():
        for before, after in itertools.pairwise(history):
            if before["level"] != after["level"]:
                switched += 1
                submit = "Submit Upgrade" if after["level"] == "paid" else "Submit Downgrade"
                assert before["page"] == submit
    assert switched > 0, "some users change level"


def test_sessions_are_unique_and_numbered_in_time_order(events) -> None:
    keys = Counter((e["sessionId"], e["itemInSession"]) for _, e in events)
    assert max(keys.values()) == 1
    plays = Counter((e["sessionId"], e["ts"]) for _, e in events if e["page"] == "NextSong")
    assert max(plays.values()) == 1
    sessions = defaultdict(list)
    for _, e in events:
        sessions[e["sessionId"]].append(e)
    for items in sessions.values():
        items.sort(key=lambda e: e["itemInSession"])
        assert [e["itemInSession"] for e in items] == list(range(len(items)))
        assert [e["ts"] for e in items] == sorted(e["ts"] for e in items)
        assert len({e["userId"] for e in items} - {""}) <= 1
    assert any(len(items) > 5 for items in sessions.values())


def test_some_hours_are_empty_and_the_manifest_counts_each_hour(clean, events) -> None:
    _, manifest = clean
    per_hour = Counter(
        datetime.fromtimestamp(e["ts"] // 3_600_000 * 3600, UTC).strftime("%Y-%m-%dT%H:00:00")
        for _, e in events
    )
    hours = [
        (datetime(2018, 11, 1, tzinfo=UTC) + timedelta(hours=h)).strftime("%Y-%m-%dT%H:00:00")
        for h in range(24 * DAYS)
    ]
    empty = [h for h in hours if per_hour[h] == 0]
    assert 0 < len(empty) < len(hours) / 2
    assert {h: p["events"] for h, p in manifest["partitions"].items()} == {
        h: per_hour[h] for h in hours
    }
    assert manifest["totals"]["events"] == len(events)
    assert manifest["outcomes"] == {
        "staged": len(events),
        "coerced": 0,
        "rejected": 0,
        "duplicate": 0,
        "blank": 0,
        "plays_staged": manifest["totals"]["plays"],
        "plays_matched_staged": manifest["totals"]["plays_matched"],
    }
    assert manifest["defects"] == []


def test_song_files_look_like_the_export(clean, catalogue) -> None:
    root, _ = clean
    for path in (root / "song_data").rglob("*.json"):
        raw = path.read_bytes()
        assert raw.startswith(b"{")
        assert raw.endswith(b"}")
        assert raw.isascii()
        assert [key for key, _ in _pairs(raw)] == SONG_FIELDS
        song = json.loads(raw)
        track = path.stem
        assert re.fullmatch(r"TR[A-Z]{5}[0-9A-F]{11}", track)
        assert path.relative_to(root).parts[1:4] == tuple(track[2:5])
        assert re.fullmatch(r"AR[0-9A-Z]{16}", song["artist_id"])
        assert re.fullmatch(r"SO[0-9A-Z]{16}", song["song_id"])
        assert song["num_songs"] == 1
        assert isinstance(song["duration"], float)
        assert song["duration"] > 0
        assert isinstance(song["year"], int)
        assert song["year"] == 0 or song["year"] >= 1900
        assert isinstance(song["artist_location"], str)
        assert isinstance(song["title"], str)
        assert isinstance(song["artist_name"], str)
        for key in ("artist_latitude", "artist_longitude"):
            assert song[key] is None or isinstance(song[key], float)
    assert len({s["song_id"] for s in catalogue}) == len(catalogue)
    assert sum(s["artist_latitude"] is None for s in catalogue) > len(catalogue) / 2
    assert sum(s["artist_location"] == "" for s in catalogue) > len(catalogue) / 5
    assert sum(s["year"] == 0 for s in catalogue) > 0
    spellings = defaultdict(set)
    for s in catalogue:
        spellings[s["artist_id"]].add((s["artist_name"], s["artist_location"]))
    assert len(spellings) < len(catalogue), "artists have several songs"
    assert any(len(v) > 1 for v in spellings.values()), "one artist_id, several spellings"


def test_the_match_rate_of_plays_against_the_catalogue(clean, events, catalogue) -> None:
    _, manifest = clean
    songs = {(s["title"], s["artist_name"], s["duration"]) for s in catalogue}
    plays = [e for _, e in events if e["page"] == "NextSong"]
    matched = sum((e["song"], e["artist"], e["length"]) in songs for e in plays)
    assert manifest["totals"]["plays"] == len(plays)
    assert manifest["totals"]["plays_matched"] == matched
    # ~1,500 plays at 25 %: the standard deviation is about 1.1 points.
    assert abs(matched / len(plays) - OPTIONS["match_rate"]) < 0.06
    catalogue_artists = {s["artist_name"] for s in catalogue}
    unmatched = [e for e in plays if (e["song"], e["artist"], e["length"]) not in songs]
    assert any(e["artist"] in catalogue_artists for e in unmatched), "known artist, unknown song"


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path, clean) -> None:
    root, _ = clean
    again = tmp_path / "again"
    other = tmp_path / "other"
    generate(again, seed=7, **OPTIONS)
    generate(other, seed=8, **OPTIONS)
    assert _tree_digest(again) == _tree_digest(root)
    assert _tree_digest(other) != _tree_digest(root)
    first = root / "log_data/2018/11/2018-11-01-events.json"
    assert first.read_bytes() != (other / "log_data/2018/11/2018-11-01-events.json").read_bytes()


def test_refuses_to_write_over_a_data_set_unless_told(tmp_path) -> None:
    generate(tmp_path, days=1, events_per_hour=2, songs=5)
    with pytest.raises(FileExistsError):
        generate(tmp_path, days=1, events_per_hour=2, songs=5)
    (tmp_path / "log_data/2018/11/stale.json").write_text("{}")
    generate(tmp_path, days=1, events_per_hour=2, songs=5, overwrite=True)
    assert not (tmp_path / "log_data/2018/11/stale.json").exists()


def test_scale_follows_events_per_hour(tmp_path) -> None:
    manifest = generate(tmp_path, days=1, events_per_hour=2000, songs=50)
    events = manifest["totals"]["events"]
    assert 24 * 2000 * 0.6 < events < 24 * 2000 * 1.4
    assert all(p["events"] > 0 for p in manifest["partitions"].values())


# -- dirty mode ---------------------------------------------------------------------------
REQUIRED = ("ts", "sessionId", "itemInSession", "page")
INTS = ("itemInSession", "sessionId", "status", "ts")
FLOATS = ("length", "registration")
INTEGER_TEXT = re.compile(r"\s*[+-]?\d+(\.0*)?\s*")


def _classify_event(line: bytes, seen: set) -> tuple[str, str | None]:
    """What the staging contract says about one line, restated independently."""
    if not line.strip():
        return "blank", None
    text = line.removeprefix(b"\xef\xbb\xbf").decode()
    try:
        obj = json.loads(text)
    except ValueError:
        return "rejected", "not_json"
    if not isinstance(obj, dict):
        return "rejected", "not_object"
    for name in REQUIRED:
        if obj.get(name) is None:
            return "rejected", f"missing_field:{name}"
    coerced = False
    for name in FIELDS:
        value = obj.get(name)
        if value is None:
            continue
        if isinstance(value, dict | list | bool):
            return "rejected", f"bad_type:{name}"
        if name in INTS:
            if isinstance(value, float):
                if not value.is_integer():
                    return "rejected", f"bad_type:{name}"
                coerced = True
            elif isinstance(value, str):
                if not INTEGER_TEXT.fullmatch(value):
                    return "rejected", f"bad_type:{name}"
                coerced = True
        elif name in FLOATS:
            if not isinstance(value, int | float):
                return "rejected", f"bad_type:{name}"
        elif not isinstance(value, str):
            coerced = True
    key = (int(float(obj["sessionId"])), int(float(obj["itemInSession"])))
    if key in seen:
        return "duplicate", None
    seen.add(key)
    return ("coerced" if coerced else "staged"), None


def _classify_song(raw: bytes) -> tuple[str, str | None]:
    try:
        obj = json.loads(raw)
    except ValueError:
        return "rejected", "not_json"
    if not isinstance(obj, dict):
        return "rejected", "not_object"
    if obj.get("song_id") is None:
        return "rejected", "missing_field:song_id"
    if not isinstance(obj.get("duration"), int | float):
        return "rejected", "bad_type:duration"
    texts = ("artist_id", "artist_location", "artist_name", "song_id", "title")
    coerced = any(not isinstance(obj.get(k), str | None) for k in texts)
    return ("coerced" if coerced else "staged"), None


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("dirty")
    return out, generate(out, seed=7, dirty=0.08, **OPTIONS)


def test_dirty_run_has_every_kind_of_defect(dirty) -> None:
    _, manifest = dirty
    kinds = Counter(d["kind"] for d in manifest["defects"] if d["file"].startswith("log_data"))
    assert set(kinds) == {
        "not_json", "not_object", "missing_field", "extra_field", "int_text", "int_float",
        "number_for_string", "nested_value", "bad_value", "blank", "duplicate",
        "bom", "crlf", "truncated", "empty_file",
    }  # fmt: skip
    song_kinds = {d["kind"] for d in manifest["defects"] if d["file"].startswith("song_data")}
    assert song_kinds == {
        "not_json", "not_object", "missing_field", "bad_value", "number_for_string"
    }  # fmt: skip
    reasons = {d.get("reason") for d in manifest["defects"]} - {None}
    assert {"not_json", "not_object", "bad_type:ts"} <= reasons
    assert any(r.startswith("missing_field:") for r in reasons)


def test_dirty_manifest_matches_what_is_in_the_files(dirty) -> None:
    root, manifest = dirty
    defects = {(d["file"], d["line"]): d for d in manifest["defects"] if d["line"] is not None}
    found: Counter[str] = Counter()
    plays_staged = plays_matched = 0
    songs = set()
    for path in (root / "song_data").rglob("*.json"):
        if _classify_song(path.read_bytes())[0] == "staged":
            song = json.loads(path.read_bytes())
            songs.add((song["title"], song["artist_name"], song["duration"]))
    for path in sorted((root / "log_data").rglob("*.json")):
        rel = path.relative_to(root).as_posix()
        raw = path.read_bytes()
        if not raw:
            assert any(d["file"] == rel and d["kind"] == "empty_file" for d in manifest["defects"])
            continue
        assert not raw.endswith(b"\n")
        crlf = b"\r\n" in raw
        assert crlf == any(d["file"] == rel and d["kind"] == "crlf" for d in manifest["defects"])
        seen: set = set()
        for number, line in enumerate(raw.split(b"\n"), start=1):
            if crlf and number < raw.count(b"\n") + 1:
                assert line.endswith(b"\r")
            outcome, reason = _classify_event(line.rstrip(b"\r"), seen)
            found[outcome] += 1
            if outcome in ("staged", "coerced"):
                event = json.loads(line.removeprefix(b"\xef\xbb\xbf"))
                if event["page"] == "NextSong":
                    plays_staged += 1
                    play = (str(event["song"]), str(event["artist"]), event["length"])
                    plays_matched += play in songs
            defect = defects.get((rel, number))
            if defect is None:
                assert (outcome, reason) == ("staged", None), (rel, number, line[:80])
            else:
                assert (outcome, reason) == (defect["outcome"], defect.get("reason")), defect
        if raw.startswith(b"\xef\xbb\xbf"):
            assert defects[(rel, 1)]["kind"] == "bom"
    expected = manifest["outcomes"]
    outcomes = ("staged", "coerced", "rejected", "duplicate", "blank")
    assert {k: found[k] for k in outcomes} == {k: expected[k] for k in outcomes}
    assert sum(found.values()) == manifest["totals"]["lines"]
    assert plays_staged == expected["plays_staged"]
    assert plays_matched == expected["plays_matched_staged"] > 0
    assert found["rejected"] > 0
    assert found["coerced"] > 0
    assert found["duplicate"] > 0


def test_dirty_song_files_match_the_manifest(dirty) -> None:
    root, manifest = dirty
    defects = {d["file"]: d for d in manifest["defects"] if d["file"].startswith("song_data")}
    found: Counter[str] = Counter()
    for path in (root / "song_data").rglob("*.json"):
        outcome, reason = _classify_song(path.read_bytes())
        found[outcome] += 1
        defect = defects.get(path.relative_to(root).as_posix())
        if defect is None:
            assert outcome == "staged"
        else:
            assert (outcome, reason) == (defect["outcome"], defect.get("reason"))
    songs = manifest["songs"]
    assert found["rejected"] == songs["rejected"] > 0
    assert found["coerced"] == songs["coerced"] > 0
    assert found["staged"] == songs["staged"] == songs["catalogue"]
    assert sum(found.values()) == songs["files"] == songs["catalogue"] + len(defects)


def test_dirty_run_damages_the_clean_runs_data(clean, dirty) -> None:
    """Same seed: the same events and catalogue, only with defects on top."""
    (clean_root, clean_manifest), (dirty_root, dirty_manifest) = clean, dirty
    assert dirty_manifest["totals"]["events"] == clean_manifest["totals"]["events"]
    assert dirty_manifest["totals"]["plays"] == clean_manifest["totals"]["plays"]
    clean_lines = set()
    for path in _log_files(clean_root):
        clean_lines.update(path.read_bytes().split(b"\n"))
    dirty_lines = []
    for path in _log_files(dirty_root):
        dirty_lines += path.read_bytes().replace(b"\r\n", b"\n").split(b"\n")
    untouched = [line for line in dirty_lines if line in clean_lines]
    changed = {(d["file"], d["line"]) for d in dirty_manifest["defects"]}
    assert len(untouched) >= len(dirty_lines) - len(changed)
    for path in (clean_root / "song_data").rglob("*.json"):
        assert (dirty_root / path.relative_to(clean_root)).read_bytes() == path.read_bytes()


def test_hostile_lines_are_dealt_and_judged_as_the_manifest_says(tmp_path) -> None:
    """Every hostile kind appears, and the parser gives each damaged line the outcome (and
    reason) the manifest records for it."""
    from sparkify.local.generate.dirty import HOSTILE_KINDS
    from sparkify.pipeline.records import EventParser, Reject, judge_line
    from sparkify.pipeline.staging.lines import MAX_LINE_BYTES

    manifest = generate(tmp_path, days=2, events_per_hour=15, dirty=0.1, hostile=True, seed=3)
    judged = ("staged", "rejected")
    records = [
        d for d in manifest["defects"]
        if d["file"].startswith("log_data/") and d["line"] and d["outcome"] in judged
    ]  # fmt: skip
    assert set(HOSTILE_KINDS) <= {d["kind"] for d in records}
    parser = EventParser()
    for d in records:
        raw = (tmp_path / d["file"]).read_bytes().split(b"\n")[d["line"] - 1]
        _, got = judge_line(parser.parse, raw, MAX_LINE_BYTES)
        if d["outcome"] == "rejected":
            assert got == Reject(d["reason"]), d
        else:
            assert isinstance(got, tuple), (d, got)
