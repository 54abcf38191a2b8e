"""The in-process read model behind every leaderboard and /api/me.

No request sums donations or even touches the database: boards are sorted in
memory (``SortedList``: O(log n) insert, remove and rank) and built from the
aggregate tables.  A poller reads what changed since it last looked (users by
``updated_at``, payments by ``paid_at``/``refunded_at``) every half second and
re-reads just those rows, so several ``serve`` processes on one database
converge within a second or two.  Readers never wait: updates are applied in
place between requests, and a full rebuild is built aside and swapped in.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import gc
import itertools
import logging
import time
from typing import Any, Callable, Iterable

from sortedcontainers import SortedList

from .weeks import current_week_key

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
OVERLAP_SECONDS = 5  # re-read a little of the past: clocks of several processes differ
PAST_WEEK_TTL = 30.0
PAST_WEEKS_CACHED = 16


@dataclasses.dataclass(slots=True)
class UserInfo:
    username: str | None
    first_name: str | None
    photo_url: str | None
    is_blocked: bool
    referrer_id: int | None
    language_code: str | None = None


_ID_BITS = 64  # tg_id < 2**63
_TIME_BITS = 32  # reached_at: Unix seconds, good until 2106
_ID_MASK = (1 << _ID_BITS) - 1
_TIME_MASK = (1 << _TIME_BITS) - 1
_TONS_SHIFT = _ID_BITS + _TIME_BITS


def _board_key(entity: int, tons: int, reached_at: int) -> int:
    """(-tons, reached_at, entity) packed in one int that sorts the same way: the
    board compares keys on every insert and rank lookup, and comparing two ints is
    several times cheaper than comparing two tuples."""
    if not (0 <= reached_at <= _TIME_MASK and 0 <= entity <= _ID_MASK):
        raise ValueError(f"board key out of range: entity={entity} reached_at={reached_at}")
    return (-tons << _TONS_SHIFT) + (reached_at << _ID_BITS) + entity


class Board:
    """One ranking: tons descending, then who reached the total first, then the lower id."""

    __slots__ = ("_sorted", "_keys", "_offsets", "version")

    def __init__(self) -> None:
        self._sorted: SortedList = SortedList()
        self._keys: dict[int, int] = {}  # id -> _board_key(id, tons, reached_at)
        self._offsets: list[int] | None = None  # see _rank
        self.version = 0

    def set(self, entity: int, tons: int, reached_at: int, listed: bool = True) -> bool:
        """Place ``entity`` (or take it off when delisted or at zero); True when anything moved."""
        key = _board_key(entity, tons, reached_at) if listed and tons > 0 else None
        old = self._keys.get(entity)
        if old == key:
            return False
        if old is not None:
            self._sorted.remove(old)
            del self._keys[entity]
        if key is not None:
            self._keys[entity] = key
            self._sorted.add(key)
        self._offsets = None
        self.version += 1
        return True

    def _rank(self, key: int) -> int:
        """1-based position of a key on the board.

        Every request asks its caller's rank, and ``SortedList.index`` walks a positional
        index in Python (2-4 us at 100k entries).  A SortedList is a list of sorted
        sublists, so the rank is the sizes of the sublists before the key's, plus its
        place in its own: two C bisects, with those running sizes built once per change
        of the board (a few hundred sublists: microseconds, at most ten times a second).
        This reads sortedcontainers' documented-in-source layout (``_maxes``, ``_lists``),
        pinned below 3 in pyproject; tests compare it with ``SortedList.index``.
        """
        lists = self._sorted._lists
        offsets = self._offsets
        if offsets is None:
            offsets = self._offsets = [0, *itertools.accumulate(map(len, lists))]
        pos = bisect.bisect_left(self._sorted._maxes, key)
        return offsets[pos] + bisect.bisect_left(lists[pos], key) + 1

    def standing(self, entity: int) -> tuple[int, int] | None:
        """(rank, tons) of ``entity``, or None when it is not on this board."""
        key = self._keys.get(entity)
        return None if key is None else (self._rank(key), -(key >> _TONS_SHIFT))

    def rank(self, entity: int) -> int | None:
        found = self.standing(entity)
        return None if found is None else found[0]

    def tons(self, entity: int) -> int:
        key = self._keys.get(entity)
        return 0 if key is None else -(key >> _TONS_SHIFT)

    def page(self, offset: int, limit: int) -> list[tuple[int, int, int]]:
        """[(rank, id, tons)] of one page."""
        return [(offset + i + 1, key & _ID_MASK, -(key >> _TONS_SHIFT))
                for i, key in enumerate(self._sorted.islice(offset, offset + limit))]

    def __len__(self) -> int:
        return len(self._sorted)

    @classmethod
    def build(cls, rows: Iterable[tuple[int, int, int]], listed: Callable[[int], bool]) -> "Board":
        board = cls()
        keys = [_board_key(entity, tons, reached) for entity, tons, reached in rows if tons > 0 and listed(entity)]
        board._sorted = SortedList(keys)
        board._keys = {key & _ID_MASK: key for key in keys}
        return board


@dataclasses.dataclass
class WeekBoards:
    users: Board
    referrers: Board
    loaded_at: float


class ReadModel:
    def __init__(self, db, get_timezone: Callable[[], Any], *, clock: Callable[[], float] = time.time):
        self.db = db
        self.get_timezone = get_timezone
        self.clock = clock
        self.users: dict[int, UserInfo] = {}
        self.all_time = Board()
        self.referrers = Board()
        self.referral_counts: dict[int, int] = {}
        self.week_key = ""
        self.week = WeekBoards(Board(), Board(), 0.0)
        self._past: dict[str, WeekBoards] = {}
        self._watermark = 0
        self._fresh: set[int] = set()  # users remember_user added that no poll has seen yet
        self._task: asyncio.Task | None = None
        self._rebuilding = asyncio.Lock()
        self.ready = asyncio.Event()
        self.version = 0  # bumped on every change: keys the API's page cache

    # ----------------------------------------------------------------- loading
    def listed(self, tg_id: int) -> bool:
        info = self.users.get(tg_id)
        return info is not None and not info.is_blocked

    async def _load_week(self, week: str) -> WeekBoards:
        users = await self.db.fetch("SELECT tg_id, tons, reached_at FROM user_week_totals WHERE week_key = $1", week)
        refs = await self.db.fetch("SELECT referrer_id, tons, reached_at FROM referrer_week_totals WHERE week_key = $1", week)
        return WeekBoards(
            Board.build(((r[0], r[1], r[2]) for r in users), self.listed),
            Board.build(((r[0], r[1], r[2]) for r in refs), self.listed),
            self.clock(),
        )

    async def rebuild(self) -> None:
        """Read everything afresh and swap it in; readers keep the old model meanwhile."""
        async with self._rebuilding:
            started = self.clock()
            watermark = int(started) - OVERLAP_SECONDS
            rows = await self.db.fetch(f"SELECT {_USER_COLUMNS} FROM users")
            users = {r[0]: _user_info(r) for r in rows}
            listed = lambda tg_id: tg_id in users and not users[tg_id].is_blocked  # noqa: E731
            totals = await self.db.fetch("SELECT tg_id, tons, reached_at FROM user_totals")
            refs = await self.db.fetch("SELECT referrer_id, tons, reached_at, referrals_count FROM referrer_totals")
            self.users = users  # the week boards below filter on the new users
            week = current_week_key(self.get_timezone(), self.clock())
            week_boards = await self._load_week(week)
            self.all_time = Board.build(((r[0], r[1], r[2]) for r in totals), listed)
            self.referrers = Board.build(((r[0], r[1], r[2]) for r in refs), listed)
            self.referral_counts = {r[0]: r[3] for r in refs}
            self.week_key, self.week = week, week_boards
            self._past.clear()
            self._watermark = watermark
            self.version += 1
            self.ready.set()
            # Hundreds of thousands of long-lived entries: keep the cyclic GC from
            # rescanning them in every full collection (a p99 spike of 100+ ms).
            gc.freeze()
            log.info(
                "read model built in %.0f ms: %d users, %d on the all-time board, %d this week (%s)",
                (self.clock() - started) * 1000, len(users), len(self.all_time), len(self.week.users), week,
            )

    # ---------------------------------------------------------------- changes
    async def poll(self) -> None:
        """Apply what changed since the last poll (any process's writes)."""
        now = int(self.clock())
        week = current_week_key(self.get_timezone(), now)
        if week != self.week_key:  # the week rolled over: the new week starts empty
            self._past.pop(week, None)
            self.week_key, self.week = week, await self._load_week(week)
            self.version += 1
        since = self._watermark
        fresh, self._fresh = self._fresh, set()
        changed_users = await self.db.fetch(f"SELECT {_USER_COLUMNS} FROM users WHERE updated_at >= $1", since)
        payers = await self.db.fetch(
            "SELECT tg_id FROM payments WHERE paid_at >= $1 UNION SELECT tg_id FROM payments WHERE refunded_at >= $1", since
        )
        self._watermark = now - OVERLAP_SECONDS
        touched: set[int] = {r[0] for r in payers}
        referrers: set[int] = set()
        changed = False
        for r in changed_users:
            # A user this process created (remember_user) is still news to the boards.
            old = None if r[0] in fresh else self.users.get(r[0])
            info = _user_info(r)
            if old == info:
                continue
            changed = True
            self.users[r[0]] = info
            if old is not None and old.is_blocked != info.is_blocked:
                self._past.clear()  # past weeks are loaded filtered by who is listed
            if old is None or old.is_blocked != info.is_blocked:
                touched.add(r[0])  # newly listed or delisted, as donor and as referrer
                referrers.add(r[0])
            if info.referrer_id is not None and old is None:
                referrers.add(info.referrer_id)  # a new referral: the count changed
        for tg_id in touched:
            info = self.users.get(tg_id)
            if info and info.referrer_id is not None:
                referrers.add(info.referrer_id)
        if touched:
            changed |= await self.refresh_users(touched)
        if referrers:
            changed |= await self.refresh_referrers(referrers)
        if changed:
            self.version += 1

    async def refresh_users(self, ids: Iterable[int]) -> bool:
        ids, moved = list(ids), False
        for chunk in _chunks(ids, 500):
            totals = {r[0]: r for r in await self.db.fetch(
                f"SELECT tg_id, tons, reached_at FROM user_totals WHERE tg_id IN ({_marks(len(chunk))})", *chunk)}
            weekly = {r[0]: r for r in await self.db.fetch(
                f"SELECT tg_id, tons, reached_at FROM user_week_totals WHERE week_key = $1 AND tg_id IN ({_marks(len(chunk), 2)})",
                self.week_key, *chunk)}
            for tg_id in chunk:
                listed = self.listed(tg_id)
                row = totals.get(tg_id)
                moved |= self.all_time.set(tg_id, row[1] if row else 0, row[2] if row else 0, listed)
                row = weekly.get(tg_id)
                moved |= self.week.users.set(tg_id, row[1] if row else 0, row[2] if row else 0, listed)
        # Past weeks (a refund, a late payment) catch up through their short TTL.
        return moved

    async def refresh_referrers(self, ids: Iterable[int]) -> bool:
        ids, moved = list(ids), False
        for chunk in _chunks(ids, 500):
            totals = {r[0]: r for r in await self.db.fetch(
                f"SELECT referrer_id, tons, reached_at, referrals_count FROM referrer_totals WHERE referrer_id IN ({_marks(len(chunk))})",
                *chunk)}
            weekly = {r[0]: r for r in await self.db.fetch(
                f"SELECT referrer_id, tons, reached_at FROM referrer_week_totals WHERE week_key = $1 "
                f"AND referrer_id IN ({_marks(len(chunk), 2)})",
                self.week_key, *chunk)}
            for ref in chunk:
                listed = self.listed(ref)
                row = totals.get(ref)
                moved |= self.referrers.set(ref, row[1] if row else 0, row[2] if row else 0, listed)
                count = row[3] if row else 0
                if self.referral_counts.get(ref, 0) != count:
                    self.referral_counts[ref] = count
                    moved = True
                row = weekly.get(ref)
                moved |= self.week.referrers.set(ref, row[1] if row else 0, row[2] if row else 0, listed)
        return moved

    def remember_user(self, tg_id: int, info: UserInfo) -> None:
        """This process just created or refreshed a user: no need to wait for the poll.

        A user new to the model stays news for the next poll, which must still
        count them for their referrer (and place them on the boards)."""
        if tg_id not in self.users:
            self._fresh.add(tg_id)
        self.users[tg_id] = info
        self.version += 1

    # ------------------------------------------------------------------ weeks
    async def week_boards(self, week: str) -> WeekBoards:
        if week == self.week_key:
            return self.week
        cached = self._past.get(week)
        if cached is None or self.clock() - cached.loaded_at > PAST_WEEK_TTL:
            cached = await self._load_week(week)
            if len(self._past) >= PAST_WEEKS_CACHED:
                self._past.pop(next(iter(self._past)))
            self._past[week] = cached
        return cached

    # -------------------------------------------------------------- lifecycle
    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a locked or briefly unreachable DB: keep serving the last state
                log.warning("read model poll failed: %s", exc)

    async def start(self) -> None:
        await self.rebuild()
        self._task = asyncio.create_task(self._loop(), name="read-model-poll")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


_USER_COLUMNS = "tg_id, username, first_name, photo_url, is_blocked, referrer_id, language_code"


def _user_info(r) -> UserInfo:
    return UserInfo(r[1], r[2], r[3], bool(r[4]), r[5], r[6])


def _marks(n: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, n + start))


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
