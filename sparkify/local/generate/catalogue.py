"""Synthetic song catalogue, off-catalogue songs and app users for ``sparkify generate``.

Everything here is drawn from a ``random.Random`` passed in, so a seed fixes every
byte. The texts imitate the export's: titles with version suffixes, artists with
``/`` and ``&`` and apostrophes, names with accents and with the double-encoded
UTF-8 ("mojibake") the real catalogue carries.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

_ENCODE = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode


def encode_json(value: object) -> str:
    """JSON text in the exporter's dialect: compact, ASCII with ``\\uXXXX``, ``/`` as ``\\/``."""
    # A "/" can only occur inside a JSON string, so a plain replace is exact.
    return _ENCODE(value).replace("/", "\\/")


def mojibake(text: str) -> str:
    """UTF-8 decoded as Latin-1 twice over, as in ``Caf\\u00c3\\u0083\\u00c2\\u00a9``."""
    for _ in range(2):
        text = text.encode("utf-8").decode("latin-1")
    return text


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_UPPER_DIGITS = _UPPER + "0123456789"
_HEX = "0123456789ABCDEF"

_TITLE_WORDS = _words(
    "Love Night Heart Fire Rain Dream Road Home Girl Boy Time World Light Sun Moon Star "
    "River Ghost Blue Black Gold Silver Summer Winter Paper Glass Stone Sweet Wild Broken "
    "Lonely Electric Golden Secret Little Last First Lost Hollow Burning Falling Running "
    "Dancing Midnight Morning Sister Brother Angel Devil Heaven Ocean Desert City Train "
    "Radio Money Shadow Thunder Whisper Mirror Highway Garden Window Letter Promise Memory "
    "Coração Canción Mañana Träume Café Señorita Déjà Été"
)
_TITLE_PATTERNS = (
    "{a} {b}",
    "The {a} {b}",
    "{a} Of {b}",
    "{a}",
    "{a} In The {b}",
    "Don't {v} My {a}",
    "I {v} You",
    "{a} & {b}",
    "She's A {a}",
    "{a} {b} {c}",
    "When The {a} {v}s",
)
_VERBS = _words("Love Miss Need Want Call Leave Break Hold Find Chase Follow Burn Save")
_SUFFIXES = (
    " (Album Version)",
    " (LP Version)",
    " (Live)",
    " (Radio Edit)",
    " (2001 Digital Remaster)",
    " (Explicit Album Version)",
    ' (7" Version)',
    " (Feat. {p})",
)
_ARTIST_PATTERNS = (
    "The {a}s",
    "{f} {l}",
    "{a} {b}",
    "{f} {l} & The {a}s",
    "{f} {l} Featuring {g} {m}",
    "{a} / {b}",
    "{a}/{b}",
    "DJ {a}",
    "{l}'s {a}",
    "{f} {l} feat. {g}",
    "{A}",
)
_ARTIST_FIRST = _words(
    "Amy Kanye Cat Taylor Bryan Robert Helen David Joe Christina Toby Marques Kylie Jason "
    "Lluís Björk José Zoë Sinéad Håkan Renée"
)
_ARTIST_LAST = _words(
    "Winehouse West Stevens Swift Ferry Glasper Shapiro Lindley Satriani Aguilera Keith "
    "Houston Auldist Mraz Llach Gudmundsdóttir González O'Connor Müller Dupré"
)
# Artist locations as the catalogue spells them (inconsistently), some with coordinates.
_ARTIST_LOCATIONS: tuple[tuple[str, float | None, float | None], ...] = (
    ("London, England", 51.50632, -0.12714),
    ("New York, NY", 40.71455, -74.00712),
    ("Los Angeles, CA", 34.05349, -118.24532),
    ("Chicago, IL", 41.88415, -87.63241),
    ("Detroit, MI", 42.33168, -83.04792),
    ("Manchester, England", 53.4796, -2.24881),
    ("Berlin, Germany", 52.51607, 13.37698),
    ("Nashville, TN", 36.16778, -86.77836),
    ("Atlanta, GA", 33.74831, -84.39111),
    ("Cherry Hill, New Jersey", 39.9275, -75.03055),
    ("Vancouver, BC, Canada", 49.26044, -123.11403),
    ("Crakow, Poland", 50.06007, 19.93259),
    ("Memphis, TN", 35.14968, -90.04892),
    ("Glasgow, Scotland", 55.85751, -4.24229),
    ("California - LA", None, None),
    ("NY - New York City", None, None),
    ("England", None, None),
    ("London", None, None),
    ("Florida", None, None),
    ("Montréal, Québec, Canada", None, None),
    ("Derry &amp; Dungannon, N.Ireland", None, None),
)

_FIRST_NAMES: tuple[tuple[str, str], ...] = tuple(
    (name, gender)
    for gender, names in (
        (
            "F",
            "Lily Sara Aleena Kaylee Tegan Sylvie Chloe Ava Celeste Ayleen Stefany Kynnedi "
            "Cecilia Marina Makinley Anabelle Ayla Jacqueline Katherine Rylan Mia Zoe Emma Jayla "
            "Olivia Hannah Layla Lucero Brooklyn Kate",
        ),
        (
            "M",
            "Walter Joseph Ryan Mohammad Aiden Jayden Adler Isaac Kevin Samuel Austin Kaleb "
            "Connar Jacob Liam Noah Elijah Wyatt Matthew Theodore Lucas Logan Tucker Jordan "
            "Dominick Alexander Lakyla Cienna Jizelle",
        ),
    )
    for name in names.split()
)
_LAST_NAMES = _words(
    "Koch Johnson Kirby Gutierrez Summers Smith Rodriguez Hess Levine Cruz Cuevas Robinson "
    "Williams Wise Fox White Barrera Valdez Arellano Sanchez Gonzalez Owens Frye Sutton Jones "
    "Rosales Cook Simpson Moreno Porter Harrell Lynch Klein Garrison Reed Mendoza Tran Hogan"
)
_USER_LOCATIONS = (
    "Chicago-Naperville-Elgin, IL-IN-WI",
    "Winston-Salem, NC",
    "Columbia, SC",
    "Waterloo-Cedar Falls, IA",
    "Phoenix-Mesa-Scottsdale, AZ",
    "San Jose-Sunnyvale-Santa Clara, CA",
    "Sacramento--Roseville--Arden-Arcade, CA",
    "La Crosse-Onalaska, WI-MN",
    "Portland-South Portland, ME",
    "San Francisco-Oakland-Hayward, CA",
    "Washington-Arlington-Alexandria, DC-VA-MD-WV",
    "New Haven-Milford, CT",
    "Klamath Falls, OR",
    "New York-Newark-Jersey City, NY-NJ-PA",
    "New Orleans-Metairie, LA",
    "Lubbock, TX",
    "Houston-The Woodlands-Sugar Land, TX",
    "Atlanta-Sandy Springs-Roswell, GA",
    "Philadelphia-Camden-Wilmington, PA-NJ-DE-MD",
    "Tampa-St. Petersburg-Clearwater, FL",
    "Lansing-East Lansing, MI",
    "Santa Rosa, CA",
)
# Raw agent strings; the exporter wraps the ones that contain a comma in double quotes.
_USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu "
    "Chromium/36.0.1985.125 Chrome/36.0.1985.125 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2 "
    "(KHTML, like Gecko) Version/7.0 Mobile/11D257 Safari/9537.53",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/36.0.1985.143 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.9; rv:31.0) Gecko/20100101 Firefox/31.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_3) AppleWebKit/537.75.14 (KHTML, like Gecko) "
    "Version/7.0.3 Safari/537.75.14",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/35.0.1916.153 Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.3; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/36.0.1985.143 Safari/537.36",
    "Mozilla/5.0 (Windows NT 5.1; rv:31.0) Gecko/20100101 Firefox/31.0",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/37.0.2062.103 Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:31.0) Gecko/20100101 Firefox/31.0",
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; WOW64; Trident/6.0)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
)


@dataclass(frozen=True, slots=True)
class Song:
    """One catalogue entry, as written to ``song_data/A/B/C/<track_id>.json``."""

    track_id: str
    song_id: str
    artist_id: str
    artist_name: str
    artist_location: str
    artist_latitude: float | None
    artist_longitude: float | None
    title: str
    duration: float
    year: int

    @property
    def path(self) -> str:
        """Relative path: partitioned by the three letters after ``TR``."""
        t = self.track_id
        return f"song_data/{t[2]}/{t[3]}/{t[4]}/{t}.json"

    def as_export(self) -> dict[str, object]:
        """The file's object, keys in the export's (alphabetical) order."""
        return {
            "artist_id": self.artist_id,
            "artist_latitude": self.artist_latitude,
            "artist_location": self.artist_location,
            "artist_longitude": self.artist_longitude,
            "artist_name": self.artist_name,
            "duration": self.duration,
            "num_songs": 1,
            "song_id": self.song_id,
            "title": self.title,
            "year": self.year,
        }


@dataclass(frozen=True, slots=True)
class User:
    """An app user; ``level`` is only the initial level (sessions change it)."""

    user_id: str
    first_name: str
    last_name: str
    gender: str
    location: str
    registration_ms: int
    user_agent: str
    level: str


class IdMaker:
    """Unique export-style ids (``TR…``, ``SO…``, ``AR…``, 18 characters each)."""

    def __init__(self, rng: random.Random, seen: set[str] | None = None) -> None:
        self._rng = rng
        self._seen: set[str] = set() if seen is None else seen

    def with_rng(self, rng: random.Random) -> IdMaker:
        """Another maker drawing from ``rng`` that still never repeats an id of this one."""
        return IdMaker(rng, self._seen)

    def _unique(self, make) -> str:
        while True:
            value = make()
            if value not in self._seen:
                self._seen.add(value)
                return value

    def _pick(self, alphabet: str, n: int) -> str:
        return "".join(self._rng.choice(alphabet) for _ in range(n))

    def track(self) -> str:
        """``TRAADNL128F14519DF``: the export's tracks all sit under ``song_data/A/``."""

        def make() -> str:
            if self._rng.random() < 0.7:
                return "TRA" + self._pick(_UPPER, 4) + "128F" + self._pick(_HEX, 7)
            return "TRA" + self._pick(_UPPER, 4) + "12903C" + self._pick(_HEX, 5)

        return self._unique(make)

    def song(self) -> str:
        return self._unique(lambda: "SO" + self._pick(_UPPER, 5) + "12A" + self._pick(_HEX, 8))

    def artist(self) -> str:
        return self._unique(
            lambda: (
                "AR"
                + self._pick(_UPPER_DIGITS, 5)
                + "1187"
                + self._rng.choice(("B9", "FB"))
                + self._pick(_HEX, 5)
            )
        )


def _title(rng: random.Random) -> str:
    a, b, c = (rng.choice(_TITLE_WORDS) for _ in range(3))
    text = rng.choice(_TITLE_PATTERNS).format(a=a, b=b, c=c, v=rng.choice(_VERBS))
    if rng.random() < 0.2:
        feat = f"{rng.choice(_ARTIST_FIRST)} {rng.choice(_ARTIST_LAST)}"
        text += rng.choice(_SUFFIXES).format(p=feat)
    if rng.random() < 0.03:
        text = mojibake(text) if any(ord(ch) > 127 for ch in text) else text.upper()
    return text


def _artist_name(rng: random.Random) -> str:
    words = [rng.choice(_TITLE_WORDS) for _ in range(3)]
    text = rng.choice(_ARTIST_PATTERNS).format(
        a=words[0],
        b=words[1],
        A=words[2].upper(),
        f=rng.choice(_ARTIST_FIRST),
        l=rng.choice(_ARTIST_LAST),
        g=rng.choice(_ARTIST_FIRST),
        m=rng.choice(_ARTIST_LAST),
    )
    if rng.random() < 0.05 and any(ord(ch) > 127 for ch in text):
        text = mojibake(text)
    return text


def duration(rng: random.Random) -> float:
    """A track length in seconds with at most five decimals, like ``246.30812``."""
    return round(min(max(rng.lognormvariate(5.4, 0.35), 20.0), 1800.0), 5)


def build_catalogue(rng: random.Random, ids: IdMaker, n_songs: int) -> list[Song]:
    """``n_songs`` catalogue songs by about two thirds as many artists.

    Some artists appear under another spelling or location on a later song, as in
    the real export (one ``artist_id``, several names).
    """
    # The full export: about 15,000 songs by 9,553 artists.
    n_artists = max(1, round(n_songs / 1.56))
    artists: list[tuple[str, str, tuple[str, float | None, float | None]]] = []
    for _ in range(n_artists):
        place = ("", None, None) if rng.random() < 0.45 else rng.choice(_ARTIST_LOCATIONS)
        artists.append((ids.artist(), _artist_name(rng), place))
    songs: list[Song] = []
    triples: set[tuple[str, str, float]] = set()
    while len(songs) < n_songs:
        # Every artist gets a song; the rest go mostly to a few (squared uniform).
        pick = len(songs) if len(songs) < n_artists else int(n_artists * rng.random() ** 2)
        artist_id, name, (location, lat, lon) = artists[pick]
        if rng.random() < 0.04:
            name = rng.choice((f"{name} (int License)", f"{name} Featuring {_artist_name(rng)}"))
        if rng.random() < 0.02:
            location, lat, lon = rng.choice(_ARTIST_LOCATIONS)
        title, length = _title(rng), duration(rng)
        if (title, name, length) in triples:
            continue
        triples.add((title, name, length))
        year = 0 if rng.random() < 0.28 else min(2010, int(2011 - rng.expovariate(1 / 9)))
        songs.append(
            Song(ids.track(), ids.song(), artist_id, name, location, lat, lon, title, length, year)
        )
    return songs


def build_off_catalogue(
    rng: random.Random, n: int, catalogue: list[Song]
) -> list[tuple[str, str, float]]:
    """``n`` (title, artist, length) plays that match no catalogue song on all three.

    A third are by catalogue artists (as in the real logs: the artist is known,
    this particular recording is not).
    """
    taken = {(s.title, s.artist_name, s.duration) for s in catalogue}
    out: list[tuple[str, str, float]] = []
    while len(out) < n:
        if catalogue and rng.random() < 0.33:
            artist = rng.choice(catalogue).artist_name
        else:
            artist = _artist_name(rng)
        triple = (_title(rng), artist, duration(rng))
        if triple not in taken:
            taken.add(triple)
            out.append(triple)
    return out


def build_users(rng: random.Random, n_users: int, start_s: int) -> list[User]:
    """``n_users`` users with ids ``"2"``, ``"3"``…, registered up to 90 days before ``start_s``."""
    users = []
    for number in range(2, n_users + 2):
        first, gender = rng.choice(_FIRST_NAMES)
        # The export's millisecond fields all end in 796; kept so values look alike.
        registered = (start_s - rng.randint(3600, 90 * 86400)) * 1000 + 796
        users.append(
            User(
                user_id=str(number),
                first_name=first,
                last_name=rng.choice(_LAST_NAMES),
                gender=gender,
                location=rng.choice(_USER_LOCATIONS),
                registration_ms=registered,
                user_agent=rng.choice(_USER_AGENTS),
                level="paid" if rng.random() < 0.22 else "free",
            )
        )
    return users


def exported_user_agent(agent: str) -> str:
    """The exporter CSV-quoted agents that contain a comma, and the quotes stayed."""
    return f'"{agent}"' if "," in agent else agent


def random_song(rng: random.Random, ids: IdMaker) -> Song:
    """A song by a new artist, outside the catalogue (used for defective song files)."""
    return Song(
        ids.track(),
        ids.song(),
        ids.artist(),
        _artist_name(rng),
        "",
        None,
        None,
        _title(rng),
        duration(rng),
        0,
    )
