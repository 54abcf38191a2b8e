"""Refunds: a payment marked refunded and its tons taken off every board, exactly once.

Telegram reports a refund (``refunded_payment``, or a transaction in
``getStarTransactions``) after the money went back; ``tondonate payments refund``
asks Telegram first, then records it here.  A refund may arrive before the
payment's own update: it is recorded all the same, so that payment can never be
credited afterwards.
"""

from __future__ import annotations

import logging

from ..db import Database, DatabaseError
from . import statements
from .types import RefundError, RefundOutcome

log = logging.getLogger(__name__)

ROUNDS = 5  # reads and guarded writes before a refund that keeps racing its payment gives up


async def refund(
    db: Database,
    charge_id: str,
    at: int,
    *,
    tg_id: int | None = None,
    stars: int | None = None,
    payload: str | None = None,
) -> RefundOutcome:
    """Apply the refund of ``charge_id`` at ``at`` (unix seconds).  ``tg_id`` (and
    ``stars``, ``payload``) describe the payment when Telegram told us of it: needed to
    record a refund of a payment the ledger never saw.

    refunded | already_refunded | refunded_uncredited | recorded_unknown; :class:`RefundError`
    for a charge never seen when no payer is given (nothing could be recorded).

    Each way is a guarded write (paid -> refunded, created -> refunded, a new row), so of
    many deliveries of one refund exactly one does it and the others say
    ``already_refunded``.  A payment credited (or recorded) by another connection between
    the reads and the writes here is seen on the next round, so a refund racing its
    payment's credit is never lost."""
    for _ in range(ROUNDS):
        donation = await statements.donation_of(db, charge_id)
        if donation is not None:
            result = await db.write_steps(statements.refund_credited_steps(donation, charge_id, at))
            if result.completed:
                log.info(
                    "payment refunded charge_id=%s tg_id=%s stars=%s tons_nano=%s",
                    charge_id,
                    donation["tg_id"],
                    donation["stars_amount"],
                    donation["tons_amount"],
                )
                return "refunded"
            log.info("payment refund duplicate charge_id=%s: already refunded", charge_id)
            return "already_refunded"
        # Not credited: refunded before crediting, or never seen.
        if await statements.refund_uncredited(db, charge_id, at):
            log.info("payment refunded before crediting charge_id=%s", charge_id)
            return "refunded_uncredited"
        if tg_id is not None:
            result = await db.write_steps(statements.record_refunded_steps(charge_id, tg_id, stars or 0, payload, at))
            if statements.recorded_refunded(result):
                log.warning(
                    "refund for a payment the ledger never saw charge_id=%s tg_id=%s: recorded as refunded",
                    charge_id,
                    tg_id,
                )
                return "recorded_unknown"
        status = await statements.status_of(db, charge_id)
        if status == "refunded":
            log.info("payment refund duplicate charge_id=%s: already refunded", charge_id)
            return "already_refunded"
        if status is None:
            raise RefundError(
                f"refund of {charge_id}: the ledger never saw this payment and no payer was given, "
                "so it cannot be recorded as refunded; a later delivery of the payment would be credited"
            )
        # paid or created: credited or recorded meanwhile by another connection; again.
    raise DatabaseError(f"the refund of {charge_id} raced its payment {ROUNDS} times; try again")
