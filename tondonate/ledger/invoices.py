"""Invoices: what may be invoiced, the per-user limit, the quote, and the pre-checkout rules.
Every statement on the ``invoices`` table is here.

An invoice stores the rate quoted when it was issued, so the payment is credited at
that rate whatever the rate is when it arrives.  The Telegram side (the
``createInvoiceLink`` call, the localised title) is not here: :meth:`Invoices.create`
returns a :class:`Quote` and the caller asks Telegram for the link.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

from ..db import Connection, Database, Step
from ..settings import Settings
from ..users import is_blocked, lock_step
from .money import MAX_PAYMENT_NANO, MAX_PAYMENT_TONS, to_nano, tons_for
from .rates import RateProvider
from .types import CURRENCY, LedgerCounters

log = logging.getLogger(__name__)

PRESET_IDS = ("place1", "place2", "place3")
RATE_WINDOW = 60  # seconds of the per-user invoice limit

# Why a pre-checkout query is refused (the bot words it for the payer).
Refusal = Literal["unknown_invoice", "other_user", "mismatch", "blocked"]


class InvoiceError(ValueError):
    """An invoice we will not issue.  ``reason`` is a stable snake_case word (the API sends
    it as its error code): invalid_preset, preset_mismatch, missing_amount, invalid_amount,
    amount_out_of_range, amount_too_large (more tons than one payment may credit), unknown_user,
    user_blocked, rate_limited (with ``retry_after``)."""

    def __init__(self, reason: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


@dataclasses.dataclass(frozen=True)
class Quote:
    """An issued invoice: its id is the payload Telegram hands back with the payment."""

    invoice_id: str
    stars: int
    preset_id: str | None
    tons_per_star: Decimal
    tons: Decimal


def check_amount(stars: Any, preset_id: Any, settings: Settings) -> tuple[int, str | None]:
    """The Stars amount to invoice, or InvoiceError naming what is allowed."""
    if preset_id is not None:
        if preset_id not in PRESET_IDS:
            raise InvoiceError("invalid_preset", f"preset_id must be one of {', '.join(PRESET_IDS)}")
        preset_stars = settings.presets[PRESET_IDS.index(preset_id)]
        if stars is None:
            return preset_stars, preset_id
        if isinstance(stars, bool) or not isinstance(stars, int) or stars != preset_stars:
            raise InvoiceError(
                "preset_mismatch", f"{preset_id} costs {preset_stars} Stars; stars_amount must match or be omitted"
            )
        return stars, preset_id
    if stars is None:
        raise InvoiceError("missing_amount", "stars_amount is required when no preset_id is given")
    if isinstance(stars, bool) or not isinstance(stars, int):
        raise InvoiceError("invalid_amount", "stars_amount must be a whole number of Stars")
    low, high = settings["donations.min_stars"], settings["donations.max_stars"]
    if not low <= stars <= high:
        raise InvoiceError("amount_out_of_range", f"stars_amount must be between {low} and {high} Stars")
    return stars, None


async def quoted_rates(db: Connection, invoice_ids: list[str | None]) -> dict[str, str]:
    """invoice id -> the tons_per_star quoted on it, for the known ones among ``invoice_ids``."""
    ids = sorted({i for i in invoice_ids if i})
    if not ids:
        return {}
    if len(ids) == 1:
        row = await db.fetchrow("SELECT tons_per_star FROM invoices WHERE id = $1", ids[0])
        return {} if row is None else {ids[0]: row["tons_per_star"]}
    marks = ", ".join(f"${i}" for i in range(1, len(ids) + 1))
    rows = await db.fetch(f"SELECT id, tons_per_star FROM invoices WHERE id IN ({marks})", *ids)
    return {row["id"]: row["tons_per_star"] for row in rows}


class Invoices:
    def __init__(
        self,
        db: Database,
        get_settings: Callable[[], Settings],
        rates: RateProvider,
        *,
        clock: Callable[[], float] = time.time,
        counters: LedgerCounters | None = None,
    ):
        self.db = db
        self.get_settings = get_settings
        self.rates = rates
        self.clock = clock
        self.counters = counters or LedgerCounters()

    async def quote(self, stars: int, settings: Settings) -> tuple[Decimal, Decimal]:
        """(tons_per_star now, the tons ``stars`` buy at it)."""
        rate = await self.rates.get_rate()
        return rate, tons_for(stars, rate, settings.tons_decimals, settings.tons_rounding)

    async def _limited(self, tg_id: int, limit: int, now: int) -> InvoiceError | None:
        """The refusal when ``tg_id`` has ``limit`` invoices in the window (a read; the
        authoritative check is the guarded insert in :meth:`create`)."""
        rows = await self.db.fetch(
            "SELECT created_at FROM invoices WHERE tg_id = $1 AND created_at > $2 ORDER BY created_at LIMIT $3",
            tg_id,
            now - RATE_WINDOW,
            limit,
        )
        if len(rows) < limit:
            return None
        retry_after = max(1, rows[0]["created_at"] + RATE_WINDOW - now)
        return InvoiceError("rate_limited", f"Too many invoices: at most {limit} per minute", retry_after)

    async def create(self, tg_id: int, stars: Any, preset_id: Any = None) -> Quote:
        """Validate, check the payer, quote the current rate, and store the invoice if the
        per-user limit allows it.

        The limit's count and the insert are one atomic step per user, whatever the number
        of requests and processes: one transaction that locks the user's row
        (:func:`~tondonate.users.lock_step`; SQLite's write transaction is exclusive
        anyway) and inserts only while the user has fewer than the limit in the window.
        The Telegram call (the invoice link) comes after, outside the transaction: an
        invoice whose link Telegram then refuses stays stored and counts against the
        limit, so a failing Telegram is not asked more often than the limit allows."""
        settings = self.get_settings()
        stars, preset_id = check_amount(stars, preset_id, settings)
        blocked = await is_blocked(self.db, tg_id)
        if blocked is None:
            raise InvoiceError("unknown_user", "Open the Mini App first")
        if blocked:
            raise InvoiceError("user_blocked", "Payments are disabled for this account")
        limit = settings["limits.invoices_per_minute"]
        refusal = await self._limited(tg_id, limit, int(self.clock()))  # a cheap early refusal
        if refusal is not None:
            raise refusal
        rate, tons = await self.quote(stars, settings)
        if to_nano(tons) > MAX_PAYMENT_NANO:
            raise InvoiceError(
                "amount_too_large",
                f"{stars} Stars are {tons} tons at the current rate; one payment may credit at most "
                f"{MAX_PAYMENT_TONS} tons: choose fewer Stars",
            )
        quote = Quote(secrets.token_urlsafe(16), stars, preset_id, rate, tons)
        now = int(self.clock())
        result = await self.db.write_steps(
            [
                lock_step(tg_id, self.db.dialect),
                Step(
                    "INSERT INTO invoices (id, tg_id, stars_amount, preset_id, tons_per_star, created_at) "
                    "SELECT $1, $2, $3, $4, $5, $6 "
                    "WHERE (SELECT COUNT(*) FROM invoices WHERE tg_id = $2 AND created_at > $7) < $8",
                    (quote.invoice_id, tg_id, stars, preset_id, str(rate), now, now - RATE_WINDOW, limit),
                    guard=True,
                    name="invoice",
                ),
            ]
        )
        if not result.completed:
            if result.stopped_at == 0:  # users are never deleted; kept for completeness
                raise InvoiceError("unknown_user", "Open the Mini App first")
            refusal = await self._limited(tg_id, limit, now)
            raise refusal or InvoiceError("rate_limited", f"Too many invoices: at most {limit} per minute", 1)
        self.counters.invoices_created += 1
        log.info(
            "invoice created id=%s tg_id=%s stars=%s preset=%s tons_per_star=%s",
            quote.invoice_id,
            tg_id,
            stars,
            preset_id,
            rate,
        )
        return quote

    async def precheck(self, tg_id: int, payload: str, total_amount: int, currency: str) -> Refusal | None:
        """None when the payment may go ahead, else why not.  Database reads only: Telegram
        wants the answer within 10 s."""
        invoice = await self.db.fetchrow("SELECT tg_id, stars_amount FROM invoices WHERE id = $1", payload)
        if invoice is None:
            return "unknown_invoice"
        if invoice["tg_id"] != tg_id:
            return "other_user"
        if currency != CURRENCY or total_amount != invoice["stars_amount"]:
            return "mismatch"
        if await is_blocked(self.db, tg_id):
            return "blocked"
        return None
