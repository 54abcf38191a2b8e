"""Users and the referral rule (spec sections 6 and 11).

A referrer is attached only when the user row is created by this very call,
the referrer is not the user, exists and is not blocked.  An existing user
never changes referrer.  Creation is one ``INSERT ... ON CONFLICT DO NOTHING``
so of two racing first visits exactly one creates the row.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time

from .db import Database, Step

log = logging.getLogger(__name__)

_REF = re.compile(r"^ref_([1-9][0-9]{0,18})$")
MAX_TG_ID = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Profile:
    tg_id: int
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    photo_url: str | None = None
    language_code: str | None = None

    @classmethod
    def from_telegram(cls, user) -> "Profile":
        """From an aiogram ``User`` or a Mini App initData user dict."""
        get = user.get if isinstance(user, dict) else lambda k, d=None: getattr(user, k, d)
        return cls(
            tg_id=int(get("id")),
            username=get("username"),
            first_name=get("first_name"),
            last_name=get("last_name"),
            photo_url=get("photo_url"),
            language_code=get("language_code"),
        )


@dataclasses.dataclass(frozen=True)
class EnsureResult:
    created: bool
    referrer_id: int | None
    referral: str  # attached | none | refused:<reason>
    is_blocked: bool


def parse_ref(start_param: str | None) -> int | None:
    """``ref_<tg_id>`` -> tg_id; anything else -> None."""
    match = _REF.match(start_param or "")
    if not match:
        return None
    value = int(match.group(1))
    return value if value <= MAX_TG_ID else None


_PROFILE_FIELDS = ("username", "first_name", "last_name", "photo_url", "language_code")


async def ensure_user(db: Database, profile: Profile, ref_code: int | None = None, now: int | None = None) -> EnsureResult:
    """Create the user on first sight (applying the referral rule) or refresh a changed profile."""
    now = int(time.time()) if now is None else now
    row = await db.fetchrow(
        "SELECT referrer_id, is_blocked, username, first_name, last_name, photo_url, language_code "
        "FROM users WHERE tg_id = $1",
        profile.tg_id,
    )
    if row is not None:
        await _refresh_profile(db, profile, row)
        if ref_code is not None:
            _log_referral(profile.tg_id, ref_code, "refused:existing_user")
        return EnsureResult(False, row["referrer_id"], "refused:existing_user" if ref_code else "none", bool(row["is_blocked"]))

    result = await db.write_steps(create_user_steps(profile, ref_code, now))
    if not result.completed:  # a racing first visit created the row a moment ago
        return await ensure_user(db, profile, ref_code, now)
    referrer_id = result.rows[0][0]["referrer_id"]
    if ref_code is None:
        outcome = "none"
    elif referrer_id is not None:
        outcome = "attached"
    else:
        outcome = "refused:" + await _refusal_reason(db, profile.tg_id, ref_code)
    if ref_code is not None:
        _log_referral(profile.tg_id, ref_code, outcome)
    log.info("user created tg_id=%s referrer_id=%s", profile.tg_id, referrer_id)
    return EnsureResult(True, referrer_id, outcome, False)


def create_user_steps(profile: Profile, ref_code: int | None, now: int) -> list[Step]:
    """Create the user if absent (the guard), with the referrer when the rule allows,
    and count the referral.  Also used by ``tondonate dev seed`` in bulk."""
    return [
        Step(
            "INSERT INTO users (tg_id, username, first_name, last_name, photo_url, language_code, created_at, updated_at, referrer_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $7, "
            "(SELECT r.tg_id FROM users r WHERE r.tg_id = $8 AND r.tg_id <> $1 AND NOT r.is_blocked)) "
            "ON CONFLICT (tg_id) DO NOTHING RETURNING referrer_id",
            (profile.tg_id, *(getattr(profile, f) for f in _PROFILE_FIELDS), now, ref_code),
            guard=True,
        ),
        Step(
            "INSERT INTO referrer_totals (referrer_id, referrals_count, tons, reached_at) "
            "SELECT referrer_id, 1, 0, $2 FROM users WHERE tg_id = $1 AND referrer_id IS NOT NULL "
            "ON CONFLICT (referrer_id) DO UPDATE SET referrals_count = referrer_totals.referrals_count + 1",
            (profile.tg_id, now),
        ),
    ]


async def _refusal_reason(db: Database, tg_id: int, ref_code: int) -> str:
    if ref_code == tg_id:
        return "self"
    row = await db.fetchrow("SELECT is_blocked FROM users WHERE tg_id = $1", ref_code)
    if row is None:
        return "unknown_referrer"
    return "blocked_referrer" if row["is_blocked"] else "unknown"


def _log_referral(tg_id: int, ref_code: int, outcome: str) -> None:
    event = "referral attached" if outcome == "attached" else "referral refused"
    log.info("%s tg_id=%s referrer_id=%s outcome=%s", event, tg_id, ref_code, outcome)


# Telegram sends ``username`` whenever the user has one (Mini App initData and bot
# updates alike), so its absence means it was removed.  ``photo_url`` and the rest
# are missing from some sources (bot updates never carry a photo), so their absence
# says nothing and keeps the stored value.
_CLEARED_WHEN_ABSENT = frozenset({"username"})


def _refreshed(profile: Profile, field: str) -> bool:
    return getattr(profile, field) is not None or field in _CLEARED_WHEN_ABSENT


async def _refresh_profile(db: Database, profile: Profile, row) -> None:
    """Write only when something changed, so a busy /me does not write on every call."""
    changed = [f for f in _PROFILE_FIELDS if _refreshed(profile, f) and getattr(profile, f) != row[f]]
    if not changed:
        return
    assignments = ", ".join(f"{field} = ${i}" for i, field in enumerate(changed, start=3))
    await db.execute(
        f"UPDATE users SET updated_at = $2, {assignments} WHERE tg_id = $1",
        profile.tg_id, int(time.time()), *(getattr(profile, f) for f in changed),
    )


async def set_blocked(db: Database, tg_id: int, blocked: bool) -> bool:
    return await db.execute(
        "UPDATE users SET is_blocked = $2, updated_at = $3 WHERE tg_id = $1", tg_id, blocked, int(time.time())
    ) > 0
