"""First sight of a user and the referral rule (spec sections 6 and 11).

A referrer is attached only when the user row is created by this very call, the
referrer is not the user, exists and is not blocked.  An existing user never
changes referrer.  Creating the user and counting the referral for the referrer
(``referrer_totals``) is one transaction whose first statement is
``INSERT ... ON CONFLICT DO NOTHING``: of two racing first visits exactly one
creates the row and counts it.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from .. import users
from ..db import Database, Step
from ..users import Profile
from . import totals

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EnsureResult:
    created: bool
    referrer_id: int | None
    referral: str  # attached | none | refused:<reason>
    is_blocked: bool


def create_user_steps(profile: Profile, ref_code: int | None, now: int) -> list[Step]:
    """Create the user if absent (the guard), with the referrer when the rule allows,
    and count the referral.  Also used by ``tondonate dev seed`` in bulk."""
    return [users.create_step(profile, ref_code, now), totals.count_referral_step(profile.tg_id, now)]


async def ensure_user(
    db: Database, profile: Profile, ref_code: int | None = None, now: int | None = None
) -> EnsureResult:
    """Create the user on first sight (applying the referral rule) or refresh a changed profile."""
    now = int(time.time()) if now is None else now
    row = await users.find(db, profile.tg_id)
    if row is not None:
        await users.refresh_profile(db, profile, row)
        if ref_code is not None:
            _log_referral(profile.tg_id, ref_code, "refused:existing_user")
        referral = "refused:existing_user" if ref_code else "none"
        return EnsureResult(False, row["referrer_id"], referral, bool(row["is_blocked"]))

    result = await db.write_steps(create_user_steps(profile, ref_code, now))
    if not result.completed:  # a racing first visit created the row a moment ago
        return await ensure_user(db, profile, ref_code, now)
    referrer_id = result.returned("user")[0]["referrer_id"]
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


async def _refusal_reason(db: Database, tg_id: int, ref_code: int) -> str:
    if ref_code == tg_id:
        return "self"
    blocked = await users.is_blocked(db, ref_code)
    if blocked is None:
        return "unknown_referrer"
    return "blocked_referrer" if blocked else "unknown"


def _log_referral(tg_id: int, ref_code: int, outcome: str) -> None:
    event = "referral attached" if outcome == "attached" else "referral refused"
    log.info("%s tg_id=%s referrer_id=%s outcome=%s", event, tg_id, ref_code, outcome)
