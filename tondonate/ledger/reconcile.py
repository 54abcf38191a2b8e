"""Reconciliation against Telegram's own record of Stars (``getStarTransactions``).

Telegram lists the bot's Star transactions in chronological order.  Every incoming
invoice payment the ledger lacks is credited (through the same idempotent path as
the bot), and every refund of a credited payment is applied.  The offset read so
far is kept in ``sync_state`` (its statements are here) so ``serve`` resumes at
start-up instead of rereading history; a margin is reread for safety.

Telegram itself is behind :class:`StarTransactions`: the bot side reads the pages
and says what each transaction is (:mod:`tondonate.bot.stars`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from ..db import Connection
from . import statements
from .ledger import Ledger
from .types import IncomingPayment

log = logging.getLogger(__name__)

PAGE = 100
STATE_KEY = "reconcile.star_transactions_offset"
REREAD_MARGIN = 200


@dataclasses.dataclass(frozen=True)
class RefundEntry:
    """A refund of a payment to its payer."""

    charge_id: str
    refunded_at: int


# One transaction of Telegram's list: a payment to the bot, a refund, or anything else (None).
StarEntry = IncomingPayment | RefundEntry | None


class StarTransactions(Protocol):
    async def page(self, offset: int, limit: int) -> Sequence[StarEntry]:
        """Up to ``limit`` transactions from position ``offset``, oldest first."""
        ...


@dataclasses.dataclass
class ReconcileReport:
    scanned: int = 0
    credited: list[str] = dataclasses.field(default_factory=list)
    refunded: list[str] = dataclasses.field(default_factory=list)
    recorded_credited: int = 0  # 'created' payments credited on the way


async def _saved_offset(db: Connection) -> int:
    value = await db.fetchval("SELECT value FROM sync_state WHERE name = $1", STATE_KEY)
    return int(value) if value is not None else 0


async def _save_offset(db: Connection, offset: int) -> None:
    await db.execute(
        "INSERT INTO sync_state (name, value, updated_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        STATE_KEY,
        str(offset),
        int(time.time()),
    )


async def reconcile(
    ledger: Ledger,
    telegram: StarTransactions,
    *,
    full: bool = False,
    progress: Callable[[ReconcileReport], None] | None = None,
) -> ReconcileReport:
    """Credit what Telegram has and the ledger lacks; apply refunds.  Idempotent."""
    db = ledger.db
    report = ReconcileReport()
    report.recorded_credited = await ledger.credit_recorded()
    offset = 0 if full else max(0, await _saved_offset(db) - REREAD_MARGIN)
    hold = None  # position of the first payment the database refused: the next run must reread it
    while True:
        entries = await telegram.page(offset, PAGE)
        if not entries:
            break
        for position, entry in enumerate(entries, start=offset):
            report.scanned += 1
            if isinstance(entry, IncomingPayment):
                if not await _credit_if_missing(ledger, entry, report) and hold is None:
                    hold = position
            elif isinstance(entry, RefundEntry):
                await _refund_if_credited(ledger, entry, report)
        offset += len(entries)
        if progress:
            progress(report)
        if len(entries) < PAGE:
            break
    # Never save past a payment that could not be credited: if it is only held in
    # memory and this process stops, the next reconcile must still find it.
    await _save_offset(db, offset if hold is None else min(offset, hold))
    ledger.counters.reconcile_fixed += len(report.credited) + len(report.refunded) + report.recorded_credited
    return report


async def _credit_if_missing(ledger: Ledger, payment: IncomingPayment, report: ReconcileReport) -> bool:
    """Credit a payment the ledger has never recorded; False when the database refused it."""
    if await statements.status_of(ledger.db, payment.charge_id) is not None:
        return True
    result = await ledger.credit(payment)
    if result.status == "credited":
        report.credited.append(payment.charge_id)
        log.warning(
            "reconcile credited a payment the bot never recorded charge_id=%s tg_id=%s stars=%s",
            payment.charge_id, payment.tg_id, payment.stars,
        )  # fmt: skip
    return result.status in ("credited", "duplicate")


async def _refund_if_credited(ledger: Ledger, refund: RefundEntry, report: ReconcileReport) -> None:
    if await statements.status_of(ledger.db, refund.charge_id) != "paid":
        return
    if await ledger.refund(refund.charge_id, refunded_at=refund.refunded_at) == "refunded":
        report.refunded.append(refund.charge_id)
