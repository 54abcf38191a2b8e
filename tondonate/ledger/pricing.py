"""What a successful payment credits: its Stars at the rate its invoice quoted (or today's,
for an invoice we never issued), in nano-tons, bounded so no column or total overflows."""

from __future__ import annotations

import logging
from decimal import Decimal

from ..db import Connection
from ..settings import Settings
from ..weeks import week_key
from .invoices import quoted_rates
from .money import MAX_PAYMENT_NANO, MAX_PAYMENT_TONS, from_nano, to_nano, tons_for
from .rates import RateProvider
from .types import Credit, IncomingPayment

log = logging.getLogger(__name__)


async def price(
    db: Connection,
    rates: RateProvider,
    payment: IncomingPayment,
    settings: Settings,
    quoted: dict[str, str] | None = None,
) -> tuple[str, Credit]:
    """The rate (as stored) and the credit of ``payment``: at the rate its invoice quoted.
    ``quoted``: the invoices' rates when the caller read them for a whole group."""
    if quoted is None:
        quoted = await quoted_rates(db, [payment.payload])
    if payment.payload in quoted:
        rate = Decimal(quoted[payment.payload])
    else:
        # The money was taken all the same: credit at today's rate, and say so.
        rate = await rates.get_rate()
        log.warning(
            "payment with unknown payload credited at the current rate charge_id=%s tg_id=%s payload=%r rate=%s",
            *(payment.charge_id, payment.tg_id, payment.payload, rate),
        )
    tons = to_nano(tons_for(payment.stars, rate, settings.tons_decimals, settings.tons_rounding))
    if tons > MAX_PAYMENT_NANO:
        # Telegram took the money: credit it at the bound (it fits every column and total) rather
        # than retry a write that can only overflow.  The payment keeps its Stars and rate.
        log.error(
            "payment tons do not fit charge_id=%s tg_id=%s stars=%s tons_per_star=%s: worth %s tons, more "
            "than one payment may credit; credited at the bound of %s tons",
            *(payment.charge_id, payment.tg_id, payment.stars, rate, from_nano(tons), MAX_PAYMENT_TONS),
        )
        tons = MAX_PAYMENT_NANO
    week = week_key(payment.paid_at, settings.timezone)
    return str(rate), Credit(payment.charge_id, payment.tg_id, payment.stars, tons, payment.paid_at, week)
