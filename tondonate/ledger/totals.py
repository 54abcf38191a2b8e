"""The four aggregate tables behind the boards: every statement on them is here.

``user_totals``/``user_week_totals`` (a donor's tons, Stars and donations, all time and
per ISO week), ``referrer_totals``/``referrer_week_totals`` (a referrer's referrals and
the tons they donated).  Raised in a payment's crediting transaction (:class:`CreditTotals`,
built by :mod:`.statements` for one payment and for a group), lowered in a refund's
(:func:`refund_steps`), counted on a new referral, recomputed by ``tondonate db check``
(:data:`AGGREGATES`), and read by the read model, the CLI and the demo.

``reached_at`` is when a total last grew: the newest donation time (a late-delivered
older payment does not move it back; refunds do not move it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..db import Connection, Step
from .types import Credit

_NEWER = "CASE WHEN excluded.reached_at > {t}.reached_at THEN excluded.reached_at ELSE {t}.reached_at END"
_PAYERS_REFERRER = "FROM users WHERE tg_id = $1 AND referrer_id IS NOT NULL"

# (table, columns, the row for one credit, the ON CONFLICT clause, the row comes from the payer's users row)
_USER_TOTAL = (
    "user_totals (tg_id, tons, stars, donations, reached_at)",
    "$1, $2, $3, 1, $4",  # tg_id, tons_nano, stars, paid_at
    "ON CONFLICT (tg_id) DO UPDATE SET tons = user_totals.tons + excluded.tons, "
    "stars = user_totals.stars + excluded.stars, donations = user_totals.donations + 1, "
    f"reached_at = {_NEWER.format(t='user_totals')}",
    False,
)
_USER_WEEK = (
    "user_week_totals (week_key, tg_id, tons, stars, donations, reached_at)",
    "$1, $2, $3, $4, 1, $5",  # week, tg_id, tons_nano, stars, paid_at
    "ON CONFLICT (week_key, tg_id) DO UPDATE SET tons = user_week_totals.tons + excluded.tons, "
    "stars = user_week_totals.stars + excluded.stars, donations = user_week_totals.donations + 1, "
    f"reached_at = {_NEWER.format(t='user_week_totals')}",
    False,
)
_REFERRER_TOTAL = (
    "referrer_totals (referrer_id, referrals_count, tons, reached_at)",
    "referrer_id, 0, $2, $3",  # the payer's referrer; $1 tg_id, $2 tons_nano, $3 paid_at
    "ON CONFLICT (referrer_id) DO UPDATE SET tons = referrer_totals.tons + excluded.tons, "
    f"reached_at = {_NEWER.format(t='referrer_totals')}",
    True,
)
_REFERRER_WEEK = (
    "referrer_week_totals (week_key, referrer_id, tons, reached_at)",
    "$4, referrer_id, $2, $3",  # $1 tg_id, $2 tons_nano, $3 paid_at, $4 week
    "ON CONFLICT (week_key, referrer_id) DO UPDATE SET tons = referrer_week_totals.tons + excluded.tons, "
    f"reached_at = {_NEWER.format(t='referrer_week_totals')}",
    True,
)


def _upsert(spec: tuple[str, str, str, bool], when: str | None) -> str:
    into, row, conflict, from_users = spec
    if from_users:
        return f"INSERT INTO {into} SELECT {row} {_PAYERS_REFERRER}{f' AND {when}' if when else ''} {conflict}"
    if when:
        return f"INSERT INTO {into} SELECT {row} WHERE {when} {conflict}"
    return f"INSERT INTO {into} VALUES ({row}) {conflict}"


class CreditTotals:
    """The four upserts a credit makes, for one way of guarding them.

    ``when`` (None: unconditional) turns the placeholder of the charge id into a SQL
    condition; every upsert then takes the charge id as its last argument and runs
    only when the condition holds (the group commit, see :mod:`.statements`)."""

    def __init__(self, when: Callable[[str], str] | None = None):
        self.grouped = when is not None
        self.user_total = _upsert(_USER_TOTAL, when and when("$5"))
        self.user_week = _upsert(_USER_WEEK, when and when("$6"))
        self.referrer_total = _upsert(_REFERRER_TOTAL, when and when("$4"))
        self.referrer_week = _upsert(_REFERRER_WEEK, when and when("$5"))

    def steps(self, c: Credit) -> list[Step]:
        charge: tuple[str, ...] = (c.charge_id,) if self.grouped else ()
        return [
            Step(self.user_total, (c.tg_id, c.tons_nano, c.stars, c.paid_at, *charge)),
            Step(self.user_week, (c.week, c.tg_id, c.tons_nano, c.stars, c.paid_at, *charge)),
            Step(self.referrer_total, (c.tg_id, c.tons_nano, c.paid_at, *charge)),
            Step(self.referrer_week, (c.tg_id, c.tons_nano, c.paid_at, c.week, *charge)),
        ]


def refund_steps(donation: Any) -> list[Step]:
    """Take a refunded donation (its ``tg_id, referrer_id, stars_amount, tons_amount,
    week_key`` row) off every total it raised."""
    tg_id, ref, week = donation["tg_id"], donation["referrer_id"], donation["week_key"]
    stars, tons = donation["stars_amount"], donation["tons_amount"]
    steps = [
        Step(
            "UPDATE user_totals SET tons = tons - $2, stars = stars - $3, donations = donations - 1 WHERE tg_id = $1",
            (tg_id, tons, stars),
        ),
        Step(
            "UPDATE user_week_totals SET tons = tons - $3, stars = stars - $4, donations = donations - 1 "
            "WHERE week_key = $1 AND tg_id = $2",
            (week, tg_id, tons, stars),
        ),
    ]
    if ref is not None:
        steps += [
            Step("UPDATE referrer_totals SET tons = tons - $2 WHERE referrer_id = $1", (ref, tons)),
            Step(
                "UPDATE referrer_week_totals SET tons = tons - $3 WHERE week_key = $1 AND referrer_id = $2",
                (week, ref, tons),
            ),
        ]
    return steps


def count_referral_step(tg_id: int, now: int) -> Step:
    """Count ``tg_id`` (just created) for its referrer, if it has one."""
    return Step(
        "INSERT INTO referrer_totals (referrer_id, referrals_count, tons, reached_at) "
        f"SELECT referrer_id, 1, 0, $2 {_PAYERS_REFERRER} "
        "ON CONFLICT (referrer_id) DO UPDATE SET referrals_count = referrer_totals.referrals_count + 1",
        (tg_id, now),
    )


# -- the recomputation (tondonate db check) ----------------------------------------------


def _sum_live(column: str) -> str:  # a donation counts while it is not refunded
    return f"CAST(COALESCE(SUM(CASE WHEN refunded_at IS NULL THEN {column} ELSE 0 END), 0) AS BIGINT)"


@dataclasses.dataclass(frozen=True)
class Aggregate:
    table: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]
    expected: str  # a SELECT of keys + columns, recomputed from donations and users


# As the statements above build them: a donor row exists once the donor has any donation,
# refunded or not (a full refund leaves it at zero); a referrer row from the first referral.
AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate(
        "user_totals",
        ("tg_id",),
        ("tons", "stars", "donations", "reached_at"),
        f"SELECT tg_id, {_sum_live('tons_amount')} AS tons, {_sum_live('stars_amount')} AS stars, "
        f"{_sum_live('1')} AS donations, MAX(created_at) AS reached_at FROM donations GROUP BY tg_id",
    ),
    Aggregate(
        "user_week_totals",
        ("week_key", "tg_id"),
        ("tons", "stars", "donations", "reached_at"),
        f"SELECT week_key, tg_id, {_sum_live('tons_amount')} AS tons, {_sum_live('stars_amount')} AS stars, "
        f"{_sum_live('1')} AS donations, MAX(created_at) AS reached_at FROM donations GROUP BY week_key, tg_id",
    ),
    Aggregate(
        "referrer_totals",
        ("referrer_id",),
        ("referrals_count", "tons", "reached_at"),
        "SELECT k.referrer_id, CAST(COALESCE(r.referrals, 0) AS BIGINT) AS referrals_count, "
        "CAST(COALESCE(d.tons, 0) AS BIGINT) AS tons, "
        # the later of the first referral and the newest donation (GREATEST/max() differ by dialect)
        "CASE WHEN d.last_at IS NULL OR r.first_at >= d.last_at THEN r.first_at ELSE d.last_at END AS reached_at "
        "FROM (SELECT referrer_id FROM users WHERE referrer_id IS NOT NULL "
        "UNION SELECT referrer_id FROM donations WHERE referrer_id IS NOT NULL) k "
        "LEFT JOIN (SELECT referrer_id, COUNT(*) AS referrals, MIN(created_at) AS first_at FROM users "
        "WHERE referrer_id IS NOT NULL GROUP BY referrer_id) r ON r.referrer_id = k.referrer_id "
        f"LEFT JOIN (SELECT referrer_id, {_sum_live('tons_amount')} AS tons, MAX(created_at) AS last_at FROM donations "
        "WHERE referrer_id IS NOT NULL GROUP BY referrer_id) d ON d.referrer_id = k.referrer_id",
    ),
    Aggregate(
        "referrer_week_totals",
        ("week_key", "referrer_id"),
        ("tons", "reached_at"),
        f"SELECT week_key, referrer_id, {_sum_live('tons_amount')} AS tons, MAX(created_at) AS reached_at "
        "FROM donations WHERE referrer_id IS NOT NULL GROUP BY week_key, referrer_id",
    ),
)

# Keeps concurrent writers (a credit, a refund, a new referral) out while the aggregates
# are rewritten; readers go on.  SQLite's write transaction is already exclusive.
LOCK_FOR_REWRITE = {
    "postgresql": "LOCK TABLE users, donations, user_totals, user_week_totals, referrer_totals, referrer_week_totals "
    "IN SHARE ROW EXCLUSIVE MODE",
}


# -- reads ----------------------------------------------------------------------------

CHUNK = 500  # ids per IN (...) list
_ById = dict[int, Any]  # id -> row


def _marks(n: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, n + start))


async def all_time(db: Connection) -> tuple[list[Any], list[Any]]:
    """Every donor's ``(tg_id, tons, reached_at)`` and every referrer's
    ``(referrer_id, tons, reached_at, referrals_count)``."""
    users = await db.fetch("SELECT tg_id, tons, reached_at FROM user_totals")
    referrers = await db.fetch("SELECT referrer_id, tons, reached_at, referrals_count FROM referrer_totals")
    return users, referrers


async def week(db: Connection, week_key: str) -> tuple[list[Any], list[Any]]:
    """Week ``week_key``'s donors and referrers, each ``(id, tons, reached_at)``."""
    users = await db.fetch("SELECT tg_id, tons, reached_at FROM user_week_totals WHERE week_key = $1", week_key)
    referrers = await db.fetch(
        "SELECT referrer_id, tons, reached_at FROM referrer_week_totals WHERE week_key = $1", week_key
    )
    return users, referrers


async def _by_ids(db: Connection, ids: Iterable[int], week_key: str, all_time: str, weekly: str) -> tuple[_ById, _ById]:
    """id -> row of the ``all_time`` and ``weekly`` queries (``{marks}``: the ids), in chunks."""
    found: tuple[_ById, _ById] = ({}, {})
    ids = list(ids)
    for chunk in (ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)):
        for r in await db.fetch(all_time.format(marks=_marks(len(chunk))), *chunk):
            found[0][r[0]] = r
        for r in await db.fetch(weekly.format(marks=_marks(len(chunk), 2)), week_key, *chunk):
            found[1][r[0]] = r
    return found


async def donors(db: Connection, ids: Iterable[int], week_key: str) -> tuple[dict[int, Any], dict[int, Any]]:
    """id -> ``(tg_id, tons, reached_at)`` all time and in ``week_key``, for those of ``ids`` with a row."""
    return await _by_ids(
        db, ids, week_key,
        "SELECT tg_id, tons, reached_at FROM user_totals WHERE tg_id IN ({marks})",
        "SELECT tg_id, tons, reached_at FROM user_week_totals WHERE week_key = $1 AND tg_id IN ({marks})",
    )  # fmt: skip


async def referrers(db: Connection, ids: Iterable[int], week_key: str) -> tuple[dict[int, Any], dict[int, Any]]:
    """id -> ``(referrer_id, tons, reached_at, referrals_count)`` all time and ``(referrer_id,
    tons, reached_at)`` in ``week_key``, for those of ``ids`` with a row."""
    return await _by_ids(
        db, ids, week_key,
        "SELECT referrer_id, tons, reached_at, referrals_count FROM referrer_totals WHERE referrer_id IN ({marks})",
        "SELECT referrer_id, tons, reached_at FROM referrer_week_totals WHERE week_key = $1 "
        "AND referrer_id IN ({marks})",
    )  # fmt: skip


async def standing(db: Connection, tg_id: int) -> tuple[Any | None, Any | None]:
    """One user's ``(tons, stars, donations)`` and ``(referrals_count, tons)`` rows, or None each."""
    totals = await db.fetchrow("SELECT tons, stars, donations FROM user_totals WHERE tg_id = $1", tg_id)
    refs = await db.fetchrow("SELECT referrals_count, tons FROM referrer_totals WHERE referrer_id = $1", tg_id)
    return totals, refs


# People with their standing (the demo's user picker): tg_id, username, first_name,
# last_name, language_code, tons, referrals_count, referrals' tons.
_PEOPLE = (
    "SELECT u.tg_id, u.username, u.first_name, u.last_name, u.language_code, "
    "COALESCE(t.tons, 0), COALESCE(r.referrals_count, 0), COALESCE(r.tons, 0) "
    "FROM users u LEFT JOIN user_totals t ON t.tg_id = u.tg_id "
    "LEFT JOIN referrer_totals r ON r.referrer_id = u.tg_id"
)


async def people(db: Connection, ids: Sequence[int]) -> list[Any]:
    if not ids:
        return []
    return await db.fetch(f"{_PEOPLE} WHERE u.tg_id IN ({_marks(len(ids))})", *ids)


async def top_donors(db: Connection, limit: int) -> list[Any]:
    """Unblocked donors, the all-time board's order."""
    return await db.fetch(
        f"{_PEOPLE} WHERE NOT u.is_blocked AND t.tons > 0 ORDER BY t.tons DESC, t.reached_at, u.tg_id LIMIT $1", limit
    )


async def top_referrers(db: Connection, limit: int) -> list[Any]:
    """Unblocked users with referrals, by their referrals' tons."""
    return await db.fetch(
        f"{_PEOPLE} WHERE NOT u.is_blocked AND r.referrals_count > 0 "
        "ORDER BY r.tons DESC, r.reached_at, u.tg_id LIMIT $1",
        limit,
    )


async def donating_referrers(db: Connection) -> list[Any]:
    """``(tg_id, language_code)`` of unblocked donors whose referrals donated too, richest first."""
    return await db.fetch(
        "SELECT u.tg_id, u.language_code FROM users u "
        "JOIN user_totals t ON t.tg_id = u.tg_id "
        "JOIN referrer_totals r ON r.referrer_id = u.tg_id "
        "WHERE NOT u.is_blocked AND t.tons > 0 AND r.tons > 0 "
        "ORDER BY t.tons DESC, t.reached_at, u.tg_id"
    )
