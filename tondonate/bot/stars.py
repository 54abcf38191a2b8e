"""Telegram's record of Stars for reconciliation: ``getStarTransactions`` pages, each
transaction told apart as a payment to the bot, a refund, or something else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiogram import Bot

from ..ledger import CURRENCY, IncomingPayment
from ..ledger.reconcile import RefundEntry, StarEntry
from ..users import Profile


def _timestamp(date: Any) -> int:
    return int(date.timestamp()) if hasattr(date, "timestamp") else int(date)


def payment_of(tx: Any) -> IncomingPayment | None:
    """An incoming invoice payment from a user; None for anything else."""
    source = tx.source
    if source is None or getattr(source, "type", None) != "user" or tx.amount <= 0:
        return None
    kind = getattr(source, "transaction_type", None)
    payload = getattr(source, "invoice_payload", None)
    if kind not in (None, "invoice_payment") or (kind is None and payload is None):
        return None  # gifts, paid media, business transfers: not donations
    user = source.user
    return IncomingPayment(
        charge_id=tx.id,
        tg_id=user.id,
        payload=payload,
        stars=tx.amount,
        currency=CURRENCY,
        paid_at=_timestamp(tx.date),
        profile=Profile.from_telegram(user),
        raw={"star_transaction": tx.model_dump(mode="json", exclude_none=True)},
    )


def refund_of(tx: Any) -> RefundEntry | None:
    """A refund of an invoice payment to a user; None for anything else."""
    receiver = tx.receiver
    if receiver is None or getattr(receiver, "type", None) != "user":
        return None
    kind = getattr(receiver, "transaction_type", None)
    return RefundEntry(tx.id, _timestamp(tx.date)) if kind in (None, "invoice_payment") else None


class TelegramStars:
    """:class:`tondonate.ledger.reconcile.StarTransactions` over the Bot API."""

    def __init__(self, bot: Bot):
        self.bot = bot

    async def page(self, offset: int, limit: int) -> Sequence[StarEntry]:
        answer = await self.bot.get_star_transactions(offset=offset, limit=limit)
        return [payment_of(tx) or refund_of(tx) for tx in answer.transactions]
