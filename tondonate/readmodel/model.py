"""The in-process read model behind every leaderboard and /api/me.

No request sums donations or even touches the database: boards are sorted in
memory (:class:`~tondonate.readmodel.board.Board`) and built from the aggregate
tables, read through their owners (:mod:`tondonate.users`,
:mod:`tondonate.ledger.totals`, :mod:`tondonate.ledger.statements`; no SQL here).
A poller reads what changed since it last looked (users by ``updated_at``,
payments by ``paid_at``/``refunded_at``) every half second and re-reads just those
rows, so several ``serve`` processes on one database converge within a second or
two.  Readers never wait: updates are applied in place between requests, and a
full rebuild is built aside and swapped in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from .. import users as user_rows
from ..db import Connection
from ..ledger import statements, totals
from ..periodic import Periodic
from ..weeks import current_week_key
from .board import Board

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


@dataclasses.dataclass
class WeekBoards:
    users: Board
    referrers: Board
    loaded_at: float


class ReadModel:
    def __init__(self, db: Connection, get_timezone: Callable[[], Any], *, clock: Callable[[], float] = time.time):
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
        self._poller = Periodic("read-model-poll", self.poll, POLL_SECONDS, log=log, failure="read model poll failed")
        self._rebuilding = asyncio.Lock()
        self.ready = asyncio.Event()
        self.version = 0  # bumped on every change: keys the API's page cache
        self.polled_at: float | None = None  # clock() when the last poll (or rebuild) finished: the metrics' lag

    # ----------------------------------------------------------------- loading
    def listed(self, tg_id: int) -> bool:
        info = self.users.get(tg_id)
        return info is not None and not info.is_blocked

    async def _load_week(self, week: str) -> WeekBoards:
        users, refs = await totals.week(self.db, week)
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
            users = {r[0]: _user_info(r) for r in await user_rows.for_boards(self.db)}

            def listed(tg_id: int) -> bool:
                return tg_id in users and not users[tg_id].is_blocked

            donors, refs = await totals.all_time(self.db)
            self.users = users  # the week boards below filter on the new users
            week = current_week_key(self.get_timezone(), self.clock())
            week_boards = await self._load_week(week)
            self.all_time = Board.build(((r[0], r[1], r[2]) for r in donors), listed)
            self.referrers = Board.build(((r[0], r[1], r[2]) for r in refs), listed)
            self.referral_counts = {r[0]: r[3] for r in refs}
            self.week_key, self.week = week, week_boards
            self._past.clear()
            self._watermark = watermark
            self.version += 1
            self.polled_at = self.clock()
            self.ready.set()
            # Hundreds of thousands of long-lived entries: keep the cyclic GC from
            # rescanning them in every full collection (a p99 spike of 100+ ms).
            gc.freeze()
            log.info(
                "read model built in %.0f ms: %d users, %d on the all-time board, %d this week (%s)",
                (self.clock() - started) * 1000,
                len(users),
                len(self.all_time),
                len(self.week.users),
                week,
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
        changed_users = await user_rows.for_boards(self.db, changed_since=since)
        payers = await statements.payers_since(self.db, since)
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
            listed = self.users.get(tg_id)
            if listed and listed.referrer_id is not None:
                referrers.add(listed.referrer_id)
        if touched:
            changed |= await self.refresh_users(touched)
        if referrers:
            changed |= await self.refresh_referrers(referrers)
        if changed:
            self.version += 1
        self.polled_at = self.clock()

    async def refresh_users(self, ids: Iterable[int]) -> bool:
        ids, moved = list(ids), False
        all_time, weekly = await totals.donors(self.db, ids, self.week_key)
        for tg_id in ids:
            listed = self.listed(tg_id)
            row = all_time.get(tg_id)
            moved |= self.all_time.set(tg_id, row[1] if row else 0, row[2] if row else 0, listed)
            row = weekly.get(tg_id)
            moved |= self.week.users.set(tg_id, row[1] if row else 0, row[2] if row else 0, listed)
        # Past weeks (a refund, a late payment) catch up through their short TTL.
        return moved

    async def refresh_referrers(self, ids: Iterable[int]) -> bool:
        ids, moved = list(ids), False
        all_time, weekly = await totals.referrers(self.db, ids, self.week_key)
        for ref in ids:
            listed = self.listed(ref)
            row = all_time.get(ref)
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
    async def start(self) -> None:
        await self.rebuild()
        self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()


def _user_info(r: Any) -> UserInfo:
    return UserInfo(r[1], r[2], r[3], bool(r[4]), r[5], r[6])
