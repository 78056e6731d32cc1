"""Hostile event lines, each with the reason both warehouses must give it (None: staged).

One corpus for the PostgreSQL parser (``tests/unit/test_hostile_lines.py``) and Redshift's
SQL judgement through the rehearsal (``tests/integration/test_hostile_parity.py``); cases
that hypothesis shrank to are added here, so that they stay checked.
"""

from __future__ import annotations

import json

from sparkify.pipeline.records import MAX_DEPTH

BASE = {
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
    "song": "Monster",
    "status": 200,
    "ts": 1541126568796,
    "userAgent": "Mozilla/5.0",
    "userId": "66",
}


def event(session: int, **raw: str) -> bytes:
    """A clean event of session ``session``, with fields replaced by raw JSON text."""
    doc = {**BASE, "sessionId": session}
    text = json.dumps(doc)
    for key, value in raw.items():
        old = f'"{key}": {json.dumps(doc[key])}' if key in doc else None
        if old is None:
            text = text[:-1] + f', "{key}": {value}' + "}"
        else:
            text = text.replace(old, f'"{key}": {value}', 1)
    return text.encode()


def _utf8(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# Text that does not compress: each character another CJK ideograph, three bytes each.
WIDE = "".join(chr(0x4E00 + (n * 7919) % 20000) for n in range(3000))


# (name, line, reason); every line a distinct session, so that none is a duplicate.
CASES: list[tuple[str, bytes, str | None]] = [
    ("nested_array_deep", b"[" * 5000 + b"]" * 5000, "too_deep"),
    ("nested_in_unknown_field", event(1001, extra="[" * 100 + "]" * 100), "too_deep"),
    ("nested_unclosed", b'{"a":' + b"{" * 3000, "too_deep"),
    ("nested_to_the_limit", event(1002, extra="[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)), None),
    ("nested_past_the_limit", event(1028, extra="[" * MAX_DEPTH + "]" * MAX_DEPTH), "too_deep"),
    ("brackets_in_a_string", event(1003, song=json.dumps("[" * 500)), None),
    ("int_hundreds_of_digits_in_length", event(1004, length="9" * 300), "out_of_range:length"),
    ("int_thousands_of_digits_in_length", event(1005, length="9" * 5000), "out_of_range:length"),
    ("float_1e400", event(1006, length="1e400"), "out_of_range:length"),
    ("float_minus_1e400", event(1007, registration="-1e400"), "out_of_range:registration"),
    ("float_1e_minus_400", event(1008, length="1e-400"), "out_of_range:length"),
    ("float_text_1e400", event(1009, length='"1e400"'), "out_of_range:length"),
    ("float_text_long", event(1010, length=json.dumps("1" * 300)), "out_of_range:length"),
    ("float_1e99_kept", event(1011, length="1e99"), None),
    ("ts_digit_string", event(1012, ts=json.dumps("9" * 5000)), "out_of_range:ts"),
    ("ts_digit_number", event(1013, ts="9" * 5000), "out_of_range:ts"),
    ("ts_2_63", event(1014, ts=str(2**63)), "out_of_range:ts"),
    ("ts_2_63_minus_1", event(1015, ts=str(2**63 - 1)), "out_of_range:ts"),
    ("ts_year_9999", event(1031, ts="253402300799999"), None),
    ("ts_year_10000", event(1032, ts="253402300800000"), "out_of_range:ts"),
    ("ts_year_1", event(1033, ts="-62135596800000"), None),
    ("ts_before_year_1", event(1034, ts='"-62135596800001"'), "out_of_range:ts"),
    ("ts_1e400", event(1016, ts="1e400"), "out_of_range:ts"),
    ("session_2_31", event(1017).replace(b": 1017,", b": 2147483648,"), "out_of_range:sessionId"),
    ("user_id_huge_number", event(1018, userId="9" * 5000), None),
    ("nul_escaped", event(1019, song=json.dumps("a\x00b")), "bad_text:song"),
    ("not_utf8", event(1020, song='"caf\xe9"').replace(b"caf\xc3\xa9", b"caf\xe9"), "not_json"),
    ("bom_on_a_later_line", b"\xef\xbb\xbf" + event(1021), None),
    ("nan_literal", event(1022, length="NaN"), "not_json"),
    ("multibyte_text", event(1023, song=_utf8("\u00e9\u4e2d\U0001f600" * 400)), None),
    ("wide_title_and_artist", event(1029, song=_utf8(WIDE), artist=_utf8(WIDE[::-1])), None),
    ("wide_user_agent_and_ids", event(1030, userAgent=_utf8(WIDE), userId=_utf8(WIDE)), None),
    ("line_too_long", event(1026, song=json.dumps("x" * 70_000)), "line_too_long"),
    ("line_too_long_multibyte", event(1027, song=_utf8("\u4e2d" * 22_000)), "line_too_long"),
    ("float_text_underscore", event(1024, length='"1_000"'), "bad_type:length"),
    ("float_text_nan", event(1025, length='"nan"'), "bad_type:length"),
    # A long run of digits that fails at its end: linear, never backtracking (was 77 s).
    (
        "float_text_digits_then_junk",
        event(1035, length='"' + "9" * 60_000 + 'x"'),
        "bad_type:length",
    ),
    ("int_text_digits_then_junk", event(1036, ts='"' + "9" * 60_000 + 'x"'), "bad_type:ts"),
]
