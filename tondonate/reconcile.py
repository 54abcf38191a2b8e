"""Reconciliation against Telegram's own record of Stars (``getStarTransactions``).

Telegram lists the bot's Star transactions in chronological order.  Every
incoming invoice payment the ledger lacks is credited (through the same
idempotent path as the bot), and every refund of a credited payment is applied.
The offset read so far is kept in ``sync_state`` so ``serve`` resumes at
start-up instead of rereading history; a margin is reread for safety.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable

from .ledger import CURRENCY, IncomingPayment, Ledger
from .users import Profile

log = logging.getLogger(__name__)

PAGE = 100
STATE_KEY = "reconcile.star_transactions_offset"
REREAD_MARGIN = 200


@dataclasses.dataclass
class ReconcileReport:
    scanned: int = 0
    credited: list[str] = dataclasses.field(default_factory=list)
    refunded: list[str] = dataclasses.field(default_factory=list)
    recorded_credited: int = 0  # 'created' payments credited on the way
    offset: int = 0


async def _saved_offset(db) -> int:
    value = await db.fetchval("SELECT value FROM sync_state WHERE name = $1", STATE_KEY)
    return int(value) if value is not None else 0


async def _save_offset(db, offset: int) -> None:
    await db.execute(
        "INSERT INTO sync_state (name, value, updated_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        STATE_KEY, str(offset), int(time.time()),
    )


def _payment_from(tx) -> IncomingPayment | None:
    source = tx.source
    if source is None or getattr(source, "type", None) != "user" or tx.amount <= 0:
        return None
    kind = getattr(source, "transaction_type", None)
    payload = getattr(source, "invoice_payload", None)
    if kind not in (None, "invoice_payment") or (kind is None and payload is None):
        return None  # gifts, paid media, business transfers: not donations
    user = source.user
    return IncomingPayment(
        charge_id=tx.id, tg_id=user.id, payload=payload, stars=tx.amount, currency=CURRENCY,
        paid_at=int(tx.date.timestamp()) if hasattr(tx.date, "timestamp") else int(tx.date),
        profile=Profile.from_telegram(user),
        raw={"star_transaction": tx.model_dump(mode="json", exclude_none=True)},
    )


def _refund_from(tx) -> str | None:
    receiver = tx.receiver
    if receiver is None or getattr(receiver, "type", None) != "user":
        return None
    kind = getattr(receiver, "transaction_type", None)
    return tx.id if kind in (None, "invoice_payment") else None


async def reconcile(ledger: Ledger, bot, *, full: bool = False,
                    progress: Callable[[ReconcileReport], None] | None = None) -> ReconcileReport:
    """Credit what Telegram has and the ledger lacks; apply refunds.  Idempotent."""
    db = ledger.db
    report = ReconcileReport()
    report.recorded_credited = await ledger.credit_recorded()
    offset = 0 if full else max(0, await _saved_offset(db) - REREAD_MARGIN)
    hold = None  # position of the first payment the database refused: the next run must reread it
    while True:
        page = await bot.get_star_transactions(offset=offset, limit=PAGE)
        transactions = page.transactions
        if not transactions:
            break
        for position, tx in enumerate(transactions, start=offset):
            report.scanned += 1
            payment = _payment_from(tx)
            if payment is not None:
                known = await db.fetchval(
                    "SELECT status FROM payments WHERE telegram_payment_charge_id = $1", payment.charge_id
                )
                if known is None:
                    result = await ledger.credit(payment)
                    if result.status == "deferred" and hold is None:
                        hold = position
                    if result.status == "credited":
                        report.credited.append(payment.charge_id)
                        log.warning("reconcile credited a payment the bot never recorded charge_id=%s tg_id=%s stars=%s",
                                    payment.charge_id, payment.tg_id, payment.stars)
                continue
            charge_id = _refund_from(tx)
            if charge_id is not None:
                status = await db.fetchval("SELECT status FROM payments WHERE telegram_payment_charge_id = $1", charge_id)
                if status == "paid":
                    if await ledger.refund(charge_id, refunded_at=int(tx.date.timestamp())) == "refunded":
                        report.refunded.append(charge_id)
        offset += len(transactions)
        report.offset = offset
        if progress:
            progress(report)
        if len(transactions) < PAGE:
            break
    # Never save past a payment that could not be credited: if it is only held in
    # memory and this process stops, the next reconcile must still find it.
    await _save_offset(db, offset if hold is None else min(offset, hold))
    return report
