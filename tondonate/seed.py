"""Realistic demo and benchmark data, written through the production SQL.

Users are created with :func:`tondonate.ledger.referrals.create_user_steps`, and
payments with the ledger's named statements (the payment's record, its flip to paid
and its donation: :mod:`tondonate.ledger.statements`), exactly the statements the
bot runs, in bulk (``executemany``) over batches.  The aggregate tables are then rewritten from
the donations by the recomputation ``tondonate db check`` uses, so they are
right by construction (and ``db check`` confirms it).

The population is skewed like real donation boards: a few whales, some
dolphins, many small donors, many who never donate, and referral trees grown
by preferential attachment (popular inviters invite more).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable
from decimal import Decimal

from . import users
from .db import Database
from .ledger import IncomingPayment, statements
from .ledger.check import fix as rebuild_aggregates
from .ledger.money import to_nano, tons_for
from .ledger.referrals import create_user_steps
from .ledger.types import Credit
from .settings import Settings
from .users import Profile
from .weeks import week_key

FIRST_ID = 700_000_000
BATCH = 20_000  # rows per executemany; fewer, larger transactions (each commit is an fsync)
FIRST_NAMES = [
    "Анна",
    "Иван",
    "Мария",
    "Дмитрий",
    "Ольга",
    "Сергей",
    "Елена",
    "Алексей",
    "Наталья",
    "Павел",
    "Alice",
    "Bob",
    "Carol",
    "Dave",
    "Eve",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
]
NICK_PARTS = ["star", "ton", "moon", "fox", "wolf", "cat", "neo", "max", "sky", "zen", "pixel", "nova"]


@dataclasses.dataclass(frozen=True)
class SeedPlan:
    users: int
    donations: int
    weeks: int = 12
    referred_share: float = 0.3
    seed: int = 1


@dataclasses.dataclass
class SeedReport:
    users: int = 0
    donations: int = 0
    stars: int = 0
    seconds: float = 0.0


def _profile(rng: random.Random, tg_id: int) -> Profile:
    first = rng.choice(FIRST_NAMES)
    username = f"{rng.choice(NICK_PARTS)}_{rng.choice(NICK_PARTS)}{tg_id % 10000}" if rng.random() < 0.7 else None
    return Profile(tg_id=tg_id, username=username, first_name=first, language_code=rng.choice(["ru", "ru", "en"]))


def _amount(rng: random.Random, tier: int) -> int:
    if tier == 2:  # whale
        return rng.choice([1000, 2500, 5000, 10000])
    if tier == 1:  # dolphin
        return rng.choice([100, 250, 500, 1000])
    return rng.choice([25, 50, 100]) if rng.random() < 0.6 else rng.randint(1, 100)


async def _bulk(db: Database, steps_per_item: list[list]) -> None:
    """Run step i of every item together: one executemany per statement."""
    for index in range(len(steps_per_item[0])):
        sql = steps_per_item[0][index].sql
        await db.executemany(sql, [tuple(steps[index].args) for steps in steps_per_item])


async def seed(
    db: Database,
    settings: Settings,
    rate: Decimal,
    plan: SeedPlan,
    *,
    now: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> SeedReport:
    """Add ``plan.users`` users and ``plan.donations`` credited donations over ``plan.weeks`` weeks."""
    started = time.perf_counter()
    rng = random.Random(plan.seed)
    now = int(time.time()) if now is None else now
    first = (await users.max_id(db) or FIRST_ID - 1) + 1
    first = max(first, FIRST_ID)
    if db.dialect == "sqlite":
        # Checkpoint the WAL into the database file every ~200 MB instead of every 4 MB:
        # each batch rewrites index pages all over the file, and checkpointing after every
        # batch wrote many of them again and again (110 s instead of 126 s at a million
        # donations; 800 MB gained nothing more).  A setting of this connection only;
        # closing it checkpoints and removes the WAL.
        await db.execute("PRAGMA wal_autocheckpoint = 50000")
    span = plan.weeks * 7 * 86400
    joined = sorted(now - rng.randrange(span) for _ in range(plan.users))
    report = SeedReport()

    # Users, oldest first, so a referrer always exists before its referrals.
    inviters: list[int] = []  # preferential attachment: each referral adds its inviter again
    for start in range(0, plan.users, BATCH):
        batch = []
        for i in range(start, min(start + BATCH, plan.users)):
            tg_id = first + i
            ref = None
            if i and rng.random() < plan.referred_share:
                ref = rng.choice(inviters) if inviters and rng.random() < 0.7 else first + rng.randrange(i)
                inviters.append(ref)
            batch.append(create_user_steps(_profile(rng, tg_id), ref, joined[i]))
        await _bulk(db, batch)
        report.users += len(batch)
        if progress:
            progress("users", len(batch))

    # Donors: 45% never donate; of the rest a few whales and dolphins.
    donors, weights, tiers = [], [], {}
    for i in range(plan.users):
        roll = rng.random()
        if roll < 0.45:
            continue
        tier = 2 if roll > 0.997 else 1 if roll > 0.95 else 0
        donors.append(first + i)
        weights.append((60, 8, 1)[2 - tier])
        tiers[first + i] = tier
    if not donors:
        return report
    tz, decimals, rounding = settings.timezone, settings.tons_decimals, settings.tons_rounding
    rate_text = str(rate)
    joined_at = {first + i: joined[i] for i in range(plan.users)}
    tons_of: dict[int, int] = {}  # stars -> nano-tons at this rate
    weeks_of: dict[int, str] = {}  # quarter hour -> week key (every UTC offset is whole quarter hours)
    writing, previous = None, 0  # the previous batch's write (and size), overlapped with building the next

    # Every donation's (paid_at, donor) first, then written in time order, as a real bot
    # writes them.  The time-keyed indexes (paid_at, created_at, week_key) and the
    # charge ids (sequence numbers) then grow at their right edge instead of taking
    # random inserts all over a B-tree (126 s instead of 159-166 s at a million donations).
    # Packed in one int each (paid_at high, donor index low) to sort a million quickly.
    moments = []
    for index in rng.choices(range(len(donors)), weights, k=plan.donations):
        # Paid after the user joined; recent weeks are busier.
        paid_at = max(joined_at[donors[index]], now - int(span * rng.random() ** 1.5)) + rng.randrange(3600)
        moments.append(min(paid_at, now) << 32 | index)
    moments.sort()

    def build(start: int, count: int) -> list[list]:
        """Runs in a worker thread while SQLite (which releases the GIL) writes the last batch."""
        batch = []
        for n in range(start, start + count):
            paid_at, tg_id = moments[n] >> 32, donors[moments[n] & 0xFFFFFFFF]
            stars = _amount(rng, tiers[tg_id])
            tons_nano = tons_of.get(stars)
            if tons_nano is None:
                tons_nano = tons_of[stars] = to_nano(tons_for(stars, rate, decimals, rounding))
            week = weeks_of.get(paid_at // 900)
            if week is None:
                week = weeks_of[paid_at // 900] = week_key(paid_at, tz)
            # Unique across runs: ``first`` is a fresh user id each time.
            payment = IncomingPayment(f"seed-{first}-{n:09d}", tg_id, None, stars, "XTR", paid_at, Profile(tg_id))
            credit = Credit(payment.charge_id, tg_id, stars, tons_nano, paid_at, week)
            # The user exists; the totals are summed once at the end (below).
            batch.append(
                [
                    statements.record_payment_step(payment, rate_text, tons_nano),
                    statements.flip_step(payment.charge_id, paid_at, guard=False),
                    statements.donation_step(credit),
                ]
            )
            report.stars += stars
        return batch

    for start in range(0, plan.donations, BATCH):
        count = min(BATCH, plan.donations - start)
        batch = await asyncio.to_thread(build, start, count)
        if writing is not None:
            await writing
            if progress:
                progress("donations", previous)
        writing, previous = asyncio.ensure_future(_bulk(db, batch)), count
        report.donations += count
    if writing is not None:
        await writing
        if progress:
            progress("donations", previous)
    # Every aggregate (user, weekly, referrer totals) from the donations, with the
    # recomputation `tondonate db check` compares against: one statement per table
    # instead of four upserts per donation.
    await rebuild_aggregates(db)
    report.seconds = time.perf_counter() - started
    return report
