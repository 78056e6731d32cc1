"""Listening sessions for ``sparkify generate``: who plays what, when, one line at a time.

Sessions wait in a priority queue keyed on their next event's time; the queue
is drained hour by hour, so events come out in time order and only the open
sessions are in memory. Lines are pasted together from pre-encoded fragments,
because this loop runs a million times for a day at production volume.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect
from collections.abc import Callable, Iterable
from itertools import accumulate

from sparkify.local.generate.catalogue import User, encode_json, exported_user_agent
from sparkify.local.generate.dirty import Event

PAGES = {  # page: (method, status), as the app logs them
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
_COMMON = {"NextSong": 0.862, "Home": 0.09, "Logout": 0.012, "Settings": 0.008, "Help": 0.007}
_COMMON |= {"About": 0.004, "Error": 0.002}
# The subscription page a user is offered depends on the level they have.
_LOGGED_IN = {
    "free": _COMMON | {"Upgrade": 0.012, "Downgrade": 0.003},
    "paid": _COMMON | {"Downgrade": 0.012, "Upgrade": 0.002},
}
_LOGGED_OUT = {"Home": 0.5, "Login": 0.38, "About": 0.06, "Help": 0.06}
_FOLLOW_UP = {  # page: (probability, next page)
    "Settings": (0.3, "Save Settings"),
    ("Upgrade", "free"): (0.25, "Submit Upgrade"),
    ("Downgrade", "paid"): (0.15, "Submit Downgrade"),
}
# Relative activity per UTC hour: US listeners, quiet from 04:00 to 09:00 UTC.
_DIURNAL = (
    0.95, 0.75, 0.5, 0.3, 0.15, 0.08, 0.05, 0.06, 0.12, 0.3, 0.6, 1.0,
    1.25, 1.4, 1.5, 1.55, 1.6, 1.65, 1.6, 1.55, 1.45, 1.35, 1.2, 1.1,
)  # fmt: skip
HOURLY_WEIGHT = tuple(w * 24 / sum(_DIURNAL) for w in _DIURNAL)
MEAN_SESSION_EVENTS = 10.0
_MS = 796  # every millisecond field in the export ends in 796
_OUT_FRAGMENTS = ('"firstName":null,"gender":null,', '"lastName":null,', '"location":null,')
_OUT_FRAGMENTS += ('"registration":null,', '"userAgent":null,"userId":""')


def _chooser(weights: dict[str, float]):
    pages, cumulative = list(weights), list(accumulate(weights.values()))
    total = cumulative[-1]
    return lambda r: pages[min(bisect(cumulative, r * total), len(pages) - 1)]


_PICK_IN = {level: _chooser(w) for level, w in _LOGGED_IN.items()}
_PICK_OUT = _chooser(_LOGGED_OUT)


class _Session:
    """One listening session; ``user`` is None for a visitor who never logs in."""

    __slots__ = ("follow", "fragments", "item", "left", "logged_in", "sid", "user")

    def __init__(self, sid: int, user: int | None, logged_in: bool, left: int, frags) -> None:
        self.sid, self.user, self.logged_in, self.left = sid, user, logged_in, left
        self.item = 0
        self.follow: str | None = None
        self.fragments = frags


def _user_fragments(user: User) -> tuple[str, ...]:
    return (
        f'"firstName":{encode_json(user.first_name)},"gender":"{user.gender}",',
        f'"lastName":{encode_json(user.last_name)},',
        f'"location":{encode_json(user.location)},',
        f'"registration":{float(user.registration_ms)!r},',
        f'"userAgent":{encode_json(exported_user_agent(user.user_agent))},'
        f'"userId":"{user.user_id}"',
    )


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw from ``rng`` (normal approximation for large means)."""
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def encode_plays(
    triples: Iterable[tuple[str, str, float]], matched: bool
) -> list[tuple[str, str, str, float, bool]]:
    """Pre-encoded (artist, song, length) fragments: the hot loop only pastes text."""
    return [(encode_json(a), encode_json(t), repr(n), n, matched) for t, a, n in triples]


class Simulator:
    """Sessions as a priority queue on their next event time, drained hour by hour."""

    def __init__(
        self,
        rng: random.Random,
        users: list[User],
        catalogue_plays: list[tuple[str, str, str, float, bool]],
        other_plays: list[tuple[str, str, str, float, bool]],
        match_rate: float,
    ) -> None:
        self.rng, self.users = rng, users
        self.levels = [u.level for u in users]
        self.catalogue_plays, self.other_plays = catalogue_plays, other_plays
        self.match_rate = match_rate if catalogue_plays else 0.0
        self.queue: list[tuple[int, int, _Session]] = []
        self.active: set[int] = set()
        self.next_sid = rng.randint(1, 60)
        self.seq = 0
        self._gap = 0

    def start_sessions(self, hour_start_s: int, count: int) -> None:
        """Open ``count`` sessions at random seconds of the hour starting at ``hour_start_s``."""
        rng = self.rng
        for _ in range(count):
            user: int | None = None
            if rng.random() >= 0.01:  # one in a hundred is an anonymous visit
                for _ in range(8):  # a user rarely has two sessions at once
                    user = rng.randrange(len(self.users))
                    if user not in self.active:
                        break
                self.active.add(user)
            logged_in = user is not None and rng.random() >= 0.03
            left = 1 + int(rng.expovariate(1 / (MEAN_SESSION_EVENTS - 1)))
            if user is None:
                left, frags = min(left, 3), _OUT_FRAGMENTS
            else:
                frags = _user_fragments(self.users[user])
            session = _Session(self.next_sid, user, logged_in, left, frags)
            self.next_sid += rng.randint(1, 3)
            self._push((hour_start_s + rng.randrange(3600)) * 1000 + _MS, session)

    def _push(self, ts: int, session: _Session) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (ts, self.seq, session))

    def drain(self, until_ms: int, write: Callable[[Event], None]) -> None:
        """Emit, in time order, every event before ``until_ms``."""
        queue, rng = self.queue, self.rng
        while queue and queue[0][0] < until_ms:
            ts, _, s = heapq.heappop(queue)
            write(self._event(s, ts, rng))
            s.item += 1
            s.left -= 1
            if s.left > 0:
                self._push(ts + self._gap, s)
            elif s.user is not None:
                self.active.discard(s.user)

    def _event(self, s: _Session, ts: int, rng: random.Random) -> Event:
        level = "free" if s.user is None else self.levels[s.user]
        if s.follow:
            page, s.follow = s.follow, None
        elif s.logged_in:
            page = _PICK_IN[level](rng.random())
        else:
            page = _PICK_OUT(rng.random())
            if s.user is None and page == "Login":
                page = "Home"
        follow = _FOLLOW_UP.get(page) or _FOLLOW_UP.get((page, level))
        if follow and rng.random() < follow[0]:
            s.follow = follow[1]
        artist = song = length = "null"
        matched, self._gap = False, int(rng.expovariate(1 / 40)) * 1000
        if page == "NextSong":
            if rng.random() < self.match_rate:
                plays = self.catalogue_plays
                artist, song, length, seconds, matched = plays[int(len(plays) * rng.random() ** 2)]
            else:
                plays = self.other_plays
                artist, song, length, seconds, matched = plays[int(len(plays) * rng.random() ** 3)]
            # The next event comes when the song ends (or a little after): never the same ts.
            self._gap = (int(seconds) + rng.randint(0, 2)) * 1000
        method, status = PAGES[page]
        f = s.fragments if s.logged_in else _OUT_FRAGMENTS
        line = (
            f'{{"artist":{artist},"auth":"{"Logged In" if s.logged_in else "Logged Out"}",'
            f'{f[0]}"itemInSession":{s.item},{f[1]}"length":{length},"level":"{level}",{f[2]}'
            f'"method":"{method}","page":"{page}",{f[3]}"sessionId":{s.sid},"song":{song},'
            f'"status":{status},"ts":{ts},{f[4]}}}'
        )
        event = Event(line, ts, page == "NextSong", matched, s.logged_in)
        # State changes take effect after the event that causes them.
        if page == "Submit Upgrade" and s.user is not None:
            self.levels[s.user] = "paid"
        elif page == "Submit Downgrade" and s.user is not None:
            self.levels[s.user] = "free"
        elif page == "Logout":
            s.logged_in = False
        elif page == "Login" and s.user is not None:
            s.logged_in = True
        return event
