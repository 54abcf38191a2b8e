"""The ``users`` table: profiles, the referrer, blocking.  Every statement on it is here.

The referral rule that creates a user (who may be a referrer, counted in the
ledger's aggregates) is :mod:`tondonate.ledger.referrals`; this module only
writes and reads the rows.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

from .db import Connection, Step

_REF = re.compile(r"^ref_([1-9][0-9]{0,18})$")
MAX_TG_ID = 2**63 - 1
PROFILE_FIELDS = ("username", "first_name", "last_name", "photo_url", "language_code")
COLUMNS = "tg_id, username, first_name, last_name, photo_url, language_code, referrer_id, is_blocked, created_at"
# What the read model keeps of every user (see readmodel.model.UserInfo).
BOARD_COLUMNS = "tg_id, username, first_name, photo_url, is_blocked, referrer_id, language_code"


@dataclasses.dataclass(frozen=True)
class Profile:
    tg_id: int
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    photo_url: str | None = None
    language_code: str | None = None

    @classmethod
    def from_telegram(cls, user: Any) -> Profile:
        """From an aiogram ``User`` or a Mini App initData user dict."""
        get: Callable[[str], Any] = user.get if isinstance(user, dict) else lambda k: getattr(user, k, None)
        return cls(
            tg_id=int(get("id")),
            username=get("username"),
            first_name=get("first_name"),
            last_name=get("last_name"),
            photo_url=get("photo_url"),
            language_code=get("language_code"),
        )


def parse_ref(start_param: str | None) -> int | None:
    """``ref_<tg_id>`` -> tg_id; anything else -> None."""
    match = _REF.match(start_param or "")
    if not match:
        return None
    value = int(match.group(1))
    return value if value <= MAX_TG_ID else None


# -- writes ---------------------------------------------------------------------------


def create_step(profile: Profile, ref_code: int | None, now: int, name: str = "user") -> Step:
    """Create the user if absent (a guard: nothing when the row exists), with ``ref_code``
    as referrer only when that user exists, is not the user and is not blocked.
    Returns the stored ``referrer_id``."""
    return Step(
        "INSERT INTO users (tg_id, username, first_name, last_name, photo_url, language_code, created_at, updated_at, "
        "referrer_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, "
        "(SELECT r.tg_id FROM users r WHERE r.tg_id = $8 AND r.tg_id <> $1 AND NOT r.is_blocked)) "
        "ON CONFLICT (tg_id) DO NOTHING RETURNING referrer_id",
        (profile.tg_id, *(getattr(profile, f) for f in PROFILE_FIELDS), now, ref_code),
        guard=True,
        name=name,
    )


def record_payer_step(profile: Profile, now: int) -> Step:
    """The payer of a payment, when Telegram's word comes before any visit (no referrer)."""
    return Step(
        "INSERT INTO users (tg_id, username, first_name, last_name, language_code, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (tg_id) DO NOTHING",
        (profile.tg_id, profile.username, profile.first_name, profile.last_name, profile.language_code, now),
    )


# Row locks that serialise one user's writes across processes (PostgreSQL): FOR NO KEY
# UPDATE waits for another holder of the same lock, not for readers nor for the KEY
# SHARE lock a foreign key to the user takes.  SQLite's write transaction (BEGIN
# IMMEDIATE) is exclusive already: a plain read.
_LOCK_USER = {"postgresql": " FOR NO KEY UPDATE"}


def lock_step(tg_id: int, dialect: str, name: str = "lock user") -> Step:
    """Lock the user's row until the transaction ends (a guard: the batch stops when there
    is no such user).  Returns ``is_blocked``."""
    return Step(
        f"SELECT is_blocked FROM users WHERE tg_id = $1{_LOCK_USER.get(dialect, '')}", (tg_id,), guard=True, name=name
    )


# Telegram sends ``username`` whenever the user has one (Mini App initData and bot
# updates alike), so its absence means it was removed.  ``photo_url`` and the rest
# are missing from some sources (bot updates never carry a photo), so their absence
# says nothing and keeps the stored value.
_CLEARED_WHEN_ABSENT = frozenset({"username"})


def _refreshed(profile: Profile, field: str) -> bool:
    return getattr(profile, field) is not None or field in _CLEARED_WHEN_ABSENT


async def refresh_profile(db: Connection, profile: Profile, row: Any) -> None:
    """Store what changed since ``row`` (a :func:`find` row); no write when nothing did,
    so a busy /me does not write on every call."""
    changed = [f for f in PROFILE_FIELDS if _refreshed(profile, f) and getattr(profile, f) != row[f]]
    if not changed:
        return
    assignments = ", ".join(f"{field} = ${i}" for i, field in enumerate(changed, start=3))
    await db.execute(
        f"UPDATE users SET updated_at = $2, {assignments} WHERE tg_id = $1",
        profile.tg_id,
        int(time.time()),
        *(getattr(profile, f) for f in changed),
    )


async def set_blocked(db: Connection, tg_id: int, blocked: bool) -> bool:
    """Block or unblock; False when there is no such user."""
    return (
        await db.execute(
            "UPDATE users SET is_blocked = $2, updated_at = $3 WHERE tg_id = $1", tg_id, blocked, int(time.time())
        )
        > 0
    )


# -- reads ----------------------------------------------------------------------------


async def find(db: Connection, tg_id: int) -> Any | None:
    """The user's row (:data:`COLUMNS`), or None."""
    return await db.fetchrow(f"SELECT {COLUMNS} FROM users WHERE tg_id = $1", tg_id)


async def is_blocked(db: Connection, tg_id: int) -> bool | None:
    """True or False; None when there is no such user."""
    row = await db.fetchrow("SELECT is_blocked FROM users WHERE tg_id = $1", tg_id)
    return None if row is None else bool(row[0])


async def max_id(db: Connection) -> int | None:
    return await db.fetchval("SELECT max(tg_id) FROM users")


async def first_unblocked(db: Connection) -> int | None:
    """The lowest id of an unblocked user (someone to act as in the demo)."""
    return await db.fetchval("SELECT tg_id FROM users WHERE NOT is_blocked ORDER BY tg_id LIMIT 1")


async def count(db: Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM users"))


async def for_boards(db: Connection, changed_since: int | None = None) -> list[Any]:
    """Every user's :data:`BOARD_COLUMNS`, or those changed at or after ``changed_since``."""
    if changed_since is None:
        return await db.fetch(f"SELECT {BOARD_COLUMNS} FROM users")
    return await db.fetch(f"SELECT {BOARD_COLUMNS} FROM users WHERE updated_at >= $1", changed_since)
