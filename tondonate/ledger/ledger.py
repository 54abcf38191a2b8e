"""The money path's one door, and the one place it is wired: :func:`open_ledger`.

The server, the CLI, the demo and the tests all open the ledger the same way: a
rate provider on the database and the current settings, the invoices, the
crediting with its group commit and retries, the refunds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

from ..db import Database
from ..settings import Settings
from . import refunds
from .credit import Crediting
from .invoices import Invoices
from .rates import RateProvider
from .types import CreditResult, IncomingPayment, LedgerCounters, RefundOutcome


class Ledger:
    """Invoices (``.invoices``), exactly-once credits and refunds over one database."""

    def __init__(
        self,
        db: Database,
        get_settings: Callable[[], Settings],
        rates: RateProvider,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.db = db
        self.get_settings = get_settings
        self.rates = rates
        self.clock = clock
        self.counters = LedgerCounters()  # read by the metrics (server/metrics.py)
        self.invoices = Invoices(db, get_settings, rates, clock=clock, counters=self.counters)
        self._crediting = Crediting(db, get_settings, rates, clock=clock, counters=self.counters)

    async def credit(self, payment: IncomingPayment) -> CreditResult:
        """Credit a successful payment exactly once (see :mod:`.credit`)."""
        return await self._crediting.credit(payment)

    async def credit_recorded(self) -> int:
        """Credit what was recorded but not credited (a crash, a database error); how many."""
        return await self._crediting.credit_recorded()

    def health(self) -> tuple[int, str | None]:
        """(payments waiting for a retry, why the last failed write failed): (0, None) when
        every payment that arrived is credited.  ``/healthz`` reports anything else."""
        return self._crediting.waiting, self._crediting.write_error

    async def refund(
        self,
        charge_id: str,
        *,
        refunded_at: int | None = None,
        tg_id: int | None = None,
        stars: int | None = None,
        payload: str | None = None,
    ) -> RefundOutcome:
        """Refund ``charge_id`` exactly once (see :mod:`.refunds`)."""
        at = int(self.clock()) if refunded_at is None else refunded_at
        outcome = await refunds.refund(self.db, charge_id, at, tg_id=tg_id, stars=stars, payload=payload)
        if outcome != "already_refunded":
            self.counters.refunds += 1
        return outcome

    async def stop(self) -> None:
        """Write the credits already queued; say loudly what could not be recorded."""
        await self._crediting.stop()


@contextlib.asynccontextmanager
async def open_ledger(
    db: Database, get_settings: Callable[[], Settings], *, clock: Callable[[], float] = time.time
) -> AsyncIterator[Ledger]:
    """A started rate provider and the ledger on ``db``, stopped (queued credits written,
    pending rate inserts finished) on the way out."""
    rates = RateProvider(db, get_settings)
    await rates.start()
    ledger = Ledger(db, get_settings, rates, clock=clock)
    try:
        yield ledger
    finally:
        try:
            await ledger.stop()
        finally:
            await rates.stop()


async def rate_now(db: Database, settings: Settings) -> Decimal:
    """The current tons_per_star, for a one-off command (seeding): a provider started,
    asked once and stopped."""
    rates = RateProvider(db, lambda: settings)
    await rates.start()
    try:
        return await rates.get_rate()
    finally:
        await rates.stop()
