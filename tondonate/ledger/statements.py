"""The ``payments`` and ``donations`` tables, and the crediting and refund transactions
built on them.  Every statement on these two tables is here.

Exactly-once crediting rests on two guards inside one atomic batch:
``payments.telegram_payment_charge_id`` is the primary key, and the flip of a payment
from ``created`` to ``paid`` is guarded, so only the batch that flips it writes the
donation and raises the totals (:mod:`.totals`).  A redelivered update, a second
process, or reconciliation finds nothing to flip and credits nothing.

Two ways to credit, side by side below:

* :func:`credit_one` -- one payment in a transaction of its own: the flip is a guard
  step, so when it touches nothing the rest of the batch is skipped.
* :func:`credit_group` -- many payments in one transaction (group commit).  A guard
  would stop the other payments' credits too, so instead each payment's flip comes
  first and every later statement of its credit runs only while the payment is
  "paid and has no donation yet" (:func:`just_flipped`).  The flip and the donation
  are always committed together, so that state exists only inside the transaction
  that has just flipped the payment.  The flip also takes the payment's row lock
  (PostgreSQL), so a concurrent credit or refund of it waits for this transaction
  and then finds nothing to flip.  The donation is written last, closing the window.

Each flip is a named step (:func:`flip_name`), read back with ``result.touched(...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ..db import Connection, Step, StepsResult
from ..users import Profile, record_payer_step
from . import totals
from .types import Credit, IncomingPayment


def just_flipped(charge: str) -> str:
    """SQL: the payment whose id is the placeholder ``charge`` is paid and has no donation yet."""
    return (
        f"EXISTS (SELECT 1 FROM payments WHERE telegram_payment_charge_id = {charge} AND status = 'paid') "
        f"AND NOT EXISTS (SELECT 1 FROM donations WHERE charge_id = {charge})"
    )


_RECORD_PAYMENT = (
    "INSERT INTO payments (telegram_payment_charge_id, tg_id, invoice_id, stars_amount, tons_per_star, "
    "tons_amount, status, created_at, raw) VALUES ($1, $2, $3, $4, $5, $6, 'created', $7, $8) "
    "ON CONFLICT (telegram_payment_charge_id) DO NOTHING"
)
_FLIP_PAID = (
    "UPDATE payments SET status = 'paid', paid_at = $2 WHERE telegram_payment_charge_id = $1 AND status = 'created'"
)
# The donation carries the payer's referrer; a missing payer row fails the foreign key and rolls back the batch.
_DONATION = (
    "INSERT INTO donations (charge_id, tg_id, referrer_id, stars_amount, tons_amount, created_at, week_key) "
    "{source} $1, $2, (SELECT referrer_id FROM users WHERE tg_id = $2), $3, $4, $5, $6{end}"
)
_INSERT_DONATION = _DONATION.format(source="VALUES (", end=")")
_GROUP_DONATION = _DONATION.format(source="SELECT", end=f" WHERE {just_flipped('$1')}")

_TOTALS = totals.CreditTotals()
_GROUP_TOTALS = totals.CreditTotals(when=just_flipped)


def flip_name(charge_id: str, slot: int = 0) -> tuple[str, str, int]:
    """The name of a payment's flip step; ``slot`` tells apart two deliveries of one
    charge in the same group (the first flips, the second finds it paid)."""
    return ("flip", charge_id, slot)


# -- steps ---------------------------------------------------------------------------


def record_payment_step(p: IncomingPayment, rate: str, tons_nano: int) -> Step:
    """The payment, status ``created``, unless it is recorded already."""
    raw = orjson.dumps(p.raw).decode() if p.raw is not None else None
    return Step(_RECORD_PAYMENT, (p.charge_id, p.tg_id, p.payload, p.stars, rate, tons_nano, p.paid_at, raw))


def record_steps(p: IncomingPayment, rate: str, tons_nano: int, now: int) -> list[Step]:
    """Record the payer (if new) and the payment, idempotently: what a failed credit keeps."""
    return [record_payer_step(p.profile, now), record_payment_step(p, rate, tons_nano)]


def flip_step(charge_id: str, now: int, *, guard: bool, slot: int = 0) -> Step:
    return Step(_FLIP_PAID, (charge_id, now), guard=guard, name=flip_name(charge_id, slot))


def donation_step(c: Credit) -> Step:
    return Step(_INSERT_DONATION, (c.charge_id, c.tg_id, c.stars, c.tons_nano, c.paid_at, c.week))


def credit_steps(c: Credit, now: int) -> list[Step]:
    """Flip created -> paid (the guard), then the donation and every total."""
    return [flip_step(c.charge_id, now, guard=True), donation_step(c), *_TOTALS.steps(c)]


def group_credit_steps(c: Credit, now: int, slot: int = 0) -> list[Step]:
    """The same credit inside a group: no guard; everything after the flip runs only
    while the payment is just flipped, the donation last."""
    group_donation = Step(_GROUP_DONATION, (c.charge_id, c.tg_id, c.stars, c.tons_nano, c.paid_at, c.week))
    return [flip_step(c.charge_id, now, guard=False, slot=slot), *_GROUP_TOTALS.steps(c), group_donation]


def credit_one(p: IncomingPayment, rate: str, c: Credit, now: int) -> list[Step]:
    """Record and credit one payment in a transaction of its own."""
    return record_steps(p, rate, c.tons_nano, now) + credit_steps(c, now)


def credit_group(group: Sequence[tuple[IncomingPayment, str, Credit]], now: int) -> list[Step]:
    """Record and credit many payments in one transaction; ``flipped(result, c, slot)`` tells which."""
    steps: list[Step] = []
    seen: dict[str, int] = {}
    for p, rate, c in group:
        slot = seen[c.charge_id] = seen.get(c.charge_id, -1) + 1
        steps += record_steps(p, rate, c.tons_nano, now) + group_credit_steps(c, now, slot)
    return steps


def flipped(result: StepsResult, charge_id: str, slot: int = 0) -> bool:
    """Did this batch flip the payment (credit it)?"""
    return result.touched(flip_name(charge_id, slot)) > 0


def refund_credited_steps(donation: Any, charge_id: str, at: int) -> list[Step]:
    """Refund a credited payment (``donation`` is its :func:`donation_of` row): flip paid ->
    refunded (the guard: a second refund finds nothing), then take it off every total."""
    return [
        Step(
            "UPDATE payments SET status = 'refunded', refunded_at = $2 "
            "WHERE telegram_payment_charge_id = $1 AND status = 'paid'",
            (charge_id, at),
            guard=True,
            name="flip",
        ),
        Step("UPDATE donations SET refunded_at = $2 WHERE charge_id = $1", (charge_id, at)),
        *totals.refund_steps(donation),
    ]


async def refund_uncredited(db: Connection, charge_id: str, at: int) -> bool:
    """Mark a recorded, not yet credited payment refunded, so it is never credited; False if none."""
    return (
        await db.execute(
            "UPDATE payments SET status = 'refunded', refunded_at = $2 "
            "WHERE telegram_payment_charge_id = $1 AND status = 'created'",
            charge_id,
            at,
        )
        > 0
    )


def record_refunded_steps(charge_id: str, tg_id: int, stars: int, payload: str | None, at: int) -> list[Step]:
    """A refund of a payment the ledger never saw: recorded as refunded, so a late
    successful_payment or reconcile cannot credit it afterwards."""
    return [
        record_payer_step(Profile(tg_id), at),
        Step(
            "INSERT INTO payments (telegram_payment_charge_id, tg_id, invoice_id, stars_amount, tons_per_star, "
            "tons_amount, status, created_at, refunded_at) VALUES ($1, $2, $3, $4, '0', 0, 'refunded', $5, $5) "
            "ON CONFLICT (telegram_payment_charge_id) DO NOTHING",
            (charge_id, tg_id, payload, stars, at),
            name="record refunded",
        ),
    ]


def recorded_refunded(result: StepsResult) -> bool:
    """Did this :func:`record_refunded_steps` batch record the refund (not there before)?"""
    return result.touched("record refunded") > 0


# -- reads ----------------------------------------------------------------------------


async def status_of(db: Connection, charge_id: str) -> str | None:
    """created | paid | refunded, or None for a charge never recorded."""
    status: str | None = await db.fetchval(
        "SELECT status FROM payments WHERE telegram_payment_charge_id = $1", charge_id
    )
    return status


async def payer_of(db: Connection, charge_id: str) -> Any | None:
    """``(tg_id, status)`` of a recorded payment, or None."""
    return await db.fetchrow("SELECT tg_id, status FROM payments WHERE telegram_payment_charge_id = $1", charge_id)


async def recorded_uncredited(db: Connection) -> list[Any]:
    """Payments recorded but not credited (``created``), oldest first."""
    return await db.fetch(
        "SELECT telegram_payment_charge_id, tg_id, stars_amount, tons_amount, created_at FROM payments "
        "WHERE status = 'created' ORDER BY created_at"
    )


async def donation_of(db: Connection, charge_id: str) -> Any | None:
    return await db.fetchrow(
        "SELECT tg_id, referrer_id, stars_amount, tons_amount, week_key FROM donations WHERE charge_id = $1", charge_id
    )


async def payers_since(db: Connection, since: int) -> list[Any]:
    """``(tg_id)`` of everyone whose payment was credited or refunded at or after ``since``."""
    return await db.fetch(
        "SELECT tg_id FROM payments WHERE paid_at >= $1 UNION SELECT tg_id FROM payments WHERE refunded_at >= $1", since
    )
