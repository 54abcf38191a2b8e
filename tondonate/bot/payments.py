"""Payments: pre-checkout checks, crediting successful payments, refunds.

A payment or refund the database could not save raises :class:`RedeliverLater`: its
update stays unconfirmed and Telegram delivers it again (see ``bot/updates.py``).

The pre-checkout answer must reach Telegram within 10 s, so that path makes
database reads only, never an external call.
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import Message, PreCheckoutQuery

from ..db import DatabaseError
from ..i18n import t
from ..ledger import CURRENCY, IncomingPayment, Ledger, RefundError
from ..ledger.money import format_tons
from ..users import Profile
from .errors import RedeliverLater
from .thanks import ThankYouSender

log = logging.getLogger(__name__)

# Why the ledger refuses a pre-checkout query -> what the payer reads.
REFUSAL_TEXTS = {
    "unknown_invoice": "precheckout_unknown",
    "other_user": "precheckout_other_user",
    "mismatch": "precheckout_mismatch",
    "blocked": "precheckout_blocked",
}


async def on_pre_checkout(query: PreCheckoutQuery, ledger: Ledger) -> None:
    try:
        refusal = await ledger.invoices.precheck(
            query.from_user.id, query.invoice_payload, query.total_amount, query.currency
        )
    except Exception:
        log.exception("pre-checkout check failed for %s", query.invoice_payload)
        refusal = "unknown_invoice"
    if refusal is None:
        await query.answer(ok=True)
    else:
        key = REFUSAL_TEXTS[refusal]
        log.info("pre-checkout refused tg_id=%s payload=%r reason=%s", query.from_user.id, query.invoice_payload, key)
        await query.answer(ok=False, error_message=t(query.from_user.language_code, key))


async def on_successful_payment(message: Message, ledger: Ledger, thanks: ThankYouSender) -> None:
    paid = message.successful_payment
    user = message.from_user
    # _is_successful_payment let the message through; Telegram sends it from the payer.
    assert paid is not None and user is not None
    if paid.currency != CURRENCY:  # we only ever issue Stars invoices
        log.error(
            "ignoring a non-Stars payment charge_id=%s currency=%s", paid.telegram_payment_charge_id, paid.currency
        )
        return
    payment = IncomingPayment(
        charge_id=paid.telegram_payment_charge_id,
        tg_id=user.id,
        payload=paid.invoice_payload,
        stars=paid.total_amount,
        currency=paid.currency,
        paid_at=int(message.date.timestamp()),
        profile=Profile.from_telegram(user),
        raw=message.model_dump(mode="json", exclude_none=True, exclude={"bot"})
        if hasattr(message, "model_dump")
        else None,
    )
    result = await ledger.credit(payment)
    if result.status == "held":  # not in the database: Telegram's copy must stay until it is
        raise RedeliverLater(f"payment {payment.charge_id} is not saved yet")
    if result.status == "credited":  # queued: sent at Telegram's pace, never in the payment's way
        decimals = ledger.get_settings().tons_decimals
        thanks.send(message.chat.id, t(user.language_code, "paid", tons=format_tons(result.tons_nano, decimals)))


def payer_of(message: Message) -> int | None:
    """Who was refunded: the sender, else the private chat (Telegram may leave ``from`` out
    of a service message); None when the message names no user."""
    if message.from_user is not None:
        return message.from_user.id
    return message.chat.id if message.chat.type == "private" else None


async def on_refunded_payment(message: Message, ledger: Ledger) -> None:
    refund = message.refunded_payment
    assert refund is not None  # _is_refunded_payment let the message through
    try:
        await ledger.refund(
            refund.telegram_payment_charge_id,
            refunded_at=int(message.date.timestamp()),
            tg_id=payer_of(message),
            stars=refund.total_amount,
            payload=refund.invoice_payload,
        )
    except DatabaseError as exc:
        raise RedeliverLater(f"refund {refund.telegram_payment_charge_id} is not saved ({exc})") from exc
    except RefundError as exc:  # a redelivery would be refused the same way: confirm it, say so
        log.error(
            "refund refused charge_id=%s chat_id=%s: no payer in the message (%s)",
            refund.telegram_payment_charge_id,
            message.chat.id,
            exc,
        )


# Filters are coroutines on purpose: aiogram runs a plain callable filter, magic
# ``F.successful_payment`` included, in a worker thread (``asyncio.to_thread``) on
# every update it checks; a thread hop per check was a large share of a payment's cost.
async def _is_successful_payment(message: Message) -> bool:
    return message.successful_payment is not None


async def _is_refunded_payment(message: Message) -> bool:
    return message.refunded_payment is not None


def make_router() -> Router:
    """A fresh Router per Dispatcher (a Router can be attached to one parent only)."""
    router = Router(name=__name__)
    router.pre_checkout_query.register(on_pre_checkout)
    router.message.register(on_successful_payment, _is_successful_payment)
    router.message.register(on_refunded_payment, _is_refunded_payment)
    return router
