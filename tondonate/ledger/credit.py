"""Crediting successful payments exactly once (the SQL and why it is exactly once:
:mod:`.statements`).

Credits that arrive together (aiogram handles a getUpdates batch as concurrent
tasks) share one transaction: one commit, one fsync for the group.  Nothing is
lost: if the crediting batch fails, the payment is recorded on its own (status
``created``) and credited by a retry; if even that fails, it stays in memory for
retries, and reconciliation recovers anything Telegram has that the ledger lacks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable

from ..db import Database, StepsResult
from ..periodic import Periodic
from ..settings import Settings
from ..weeks import week_key
from . import statements
from .invoices import quoted_rates
from .pricing import price
from .rates import RateProvider
from .types import Credit, CreditResult, CreditStatus, IncomingPayment, LedgerCounters

log = logging.getLogger(__name__)

GROUP_MAX = 200  # payments per group transaction
RETRY_FIRST = 0.5  # seconds before the first retry of a deferred credit...
RETRY_MAX = 30.0  # ...doubling up to this


@dataclasses.dataclass
class _Queued:
    payment: IncomingPayment
    done: asyncio.Future[CreditResult]
    rate: str = ""  # set when the group is priced
    credit: Credit | None = None


class Crediting:
    def __init__(
        self,
        db: Database,
        get_settings: Callable[[], Settings],
        rates: RateProvider,
        *,
        clock: Callable[[], float] = time.time,
        counters: LedgerCounters,
    ):
        self.db = db
        self.get_settings = get_settings
        self.rates = rates
        self.clock = clock
        self.counters = counters
        self._pending: dict[str, IncomingPayment] = {}  # payments the DB could not even record yet
        self._waiting: set[str] = set()  # charge ids deferred since the retries last caught up
        self._reported: set[str] = set()  # charge ids whose failure was logged as an ERROR, until credited
        self._recorded_failing = 0  # recorded payments the last credit_recorded could not credit
        self.write_error: str | None = None  # why the last failed write failed, until the retries catch up
        self._queue: list[_Queued] = []  # credits waiting for the next group transaction
        self._committer: asyncio.Task[None] | None = None
        self._retry_delay = RETRY_FIRST
        self._retries = Periodic(
            "ledger-retry",
            self._retry,
            lambda: self._retry_delay,
            log=log,
            failure="retrying deferred payments failed",
            first_delay=RETRY_FIRST,
        )

    async def credit(self, payment: IncomingPayment) -> CreditResult:
        """Credit a successful payment exactly once.  Never raises for a DB failure:
        the payment is kept (in the DB as ``created``, or in memory) and retried."""
        done: asyncio.Future[CreditResult] = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(payment, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups(), name="ledger-group-commit")
        # shield: a cancelled caller (shutdown) does not cancel a credit already on its way
        return await asyncio.shield(done)

    async def _price(
        self, payment: IncomingPayment, settings: Settings, quoted: dict[str, str] | None = None
    ) -> tuple[str, Credit]:
        return await price(self.db, self.rates, payment, settings, quoted)

    # ----------------------------------------------------------- group commit
    async def _commit_groups(self) -> None:
        """Drain the queue: each round, everything queued so far in one transaction.
        While one commits, the next group gathers; a lone payment commits at once."""
        while self._queue:
            group, self._queue = self._queue[:GROUP_MAX], self._queue[GROUP_MAX:]
            try:
                await self._commit_group(group)
            except BaseException as exc:  # cancelled, or a bug: no handler may be left waiting forever
                stranded, self._queue = group + self._queue, []
                for q in stranded:
                    if not q.done.done():
                        if isinstance(exc, asyncio.CancelledError):
                            q.done.cancel()
                        else:
                            q.done.set_exception(exc)
                raise

    async def _commit_group(self, group: list[_Queued]) -> None:
        """Price ``group`` (one read for all its invoices), credit it, resolve its futures."""
        priced: list[_Queued] = []
        results: dict[int, CreditResult] = {}
        settings = self.get_settings()
        failure: Exception | None = None
        quoted: dict[str, str] = {}
        try:
            quoted = await quoted_rates(self.db, [q.payment.payload for q in group])  # one read for the group
        except Exception as exc:
            failure = exc
        for q in group:
            try:
                if failure is not None:
                    raise failure
                q.rate, q.credit = await self._price(q.payment, settings, quoted)
                priced.append(q)
            except Exception as exc:
                results[id(q)] = await self._defer(q.payment, exc)
        if len(priced) == 1:
            results[id(priced[0])] = await self._credit_one(priced[0])
        elif priced:
            results.update(zip(map(id, priced), await self._credit_group(priced), strict=True))
        for q in group:
            if not q.done.done():
                q.done.set_result(results[id(q)])

    async def _credit_one(self, q: _Queued) -> CreditResult:
        """One payment in a transaction of its own, with the guard step."""
        assert q.credit is not None
        try:
            result = await self.db.write_steps(statements.credit_one(q.payment, q.rate, q.credit, int(self.clock())))
        except Exception as exc:
            return await self._defer(q.payment, exc)
        return self._report(statements.flipped(result, q.credit.charge_id), q.credit)

    async def _credit_group(self, group: list[_Queued]) -> list[CreditResult]:
        entries = [(q.payment, q.rate, q.credit) for q in group if q.credit is not None]
        try:
            result = await self.db.write_steps(statements.credit_group(entries, int(self.clock())))
        except Exception as exc:
            # One bad payment must not hold back the others: each on its own, as usual.
            log.warning("crediting %d payments together failed (%s); crediting them one by one", len(group), exc)
            return [await self._credit_one(q) for q in group]
        return self._group_results(result, [c for _p, _r, c in entries])

    def _group_results(self, result: StepsResult, credits: list[Credit]) -> list[CreditResult]:
        slots: dict[str, int] = {}
        reports = []
        for c in credits:  # the same slots credit_group gave two deliveries of one charge
            slot = slots[c.charge_id] = slots.get(c.charge_id, -1) + 1
            reports.append(self._report(statements.flipped(result, c.charge_id, slot), c))
        return reports

    def _report(self, credited: bool, c: Credit) -> CreditResult:
        self._settled(c.charge_id)
        self.counters.count_credit(credited, c.stars)
        if credited:
            log.info(
                "payment credited charge_id=%s tg_id=%s stars=%s tons_nano=%s week=%s",
                *(c.charge_id, c.tg_id, c.stars, c.tons_nano, c.week),
            )
            return CreditResult("credited", c.charge_id, c.tons_nano)
        log.info("payment duplicate charge_id=%s tg_id=%s: already credited, nothing done", c.charge_id, c.tg_id)
        return CreditResult("duplicate", c.charge_id)

    # ------------------------------------------------------------- retries
    def _settled(self, charge_id: str) -> None:
        """``charge_id`` is in the ledger (credited now, or before): no longer waiting, whichever
        path got it there (a redelivery often beats the retry loop); /healthz is ok again once
        nothing else waits."""
        self._reported.discard(charge_id)
        self._pending.pop(charge_id, None)
        self._waiting.discard(charge_id)
        if not self._waiting and not self._pending and not self._recorded_failing:
            self.write_error = None

    def _failed(self, charge_id: str, message: str, exc: Exception) -> None:
        """Log a failed write of ``charge_id``: an ERROR the first time, DEBUG on each retry until
        it is credited.  Transient (a lock) or for good (a constraint that never passes) cannot be
        told reliably here: retried either way, back-off capped at RETRY_MAX, never dropped."""
        if charge_id in self._reported:
            log.debug("still failing charge_id=%s (%s)", charge_id, exc)
            return
        self._reported.add(charge_id)
        log.error(
            message + "; retried every %gs at most until it succeeds (/healthz: degraded)", charge_id, exc, RETRY_MAX
        )

    async def _defer(self, payment: IncomingPayment, exc: Exception) -> CreditResult:
        first = payment.charge_id not in self._reported
        self._failed(payment.charge_id, "crediting payment charge_id=%s failed (%s); recording it for a retry", exc)
        try:
            rate, c = await self._price(payment, self.get_settings())
            await self.db.write_steps(statements.record_steps(payment, rate, c.tons_nano, int(self.clock())))
        except Exception as exc2:
            if first:
                self._reported.discard(payment.charge_id)
            self._failed(payment.charge_id, "could not even record payment charge_id=%s (%s); kept in memory", exc2)
            self._pending[payment.charge_id] = payment
            self.write_error = str(exc2)
            status: CreditStatus = "held"
        else:
            self.write_error = self.write_error or str(exc)
            status = "deferred"
        self._waiting.add(payment.charge_id)
        self._retries.wake()
        return CreditResult(status, payment.charge_id)

    async def credit_recorded(self) -> int:
        """Credit every payment recorded as ``created`` (a crash or DB error between record and
        credit).  One that fails is left for the retries and holds back none after it."""
        tz = self.get_settings().timezone
        credited = failing = 0
        for row in await statements.recorded_uncredited(self.db):
            at = row["created_at"]
            c = Credit(row[0], row["tg_id"], row["stars_amount"], row["tons_amount"], at, week_key(at, tz))
            try:
                result = await self.db.write_steps(statements.credit_steps(c, int(self.clock())))
            except Exception as exc:
                failing += 1
                self.write_error = str(exc)
                self._waiting.add(c.charge_id)
                self._failed(c.charge_id, "crediting recorded payment charge_id=%s failed (%s)", exc)
                continue
            if self._report(statements.flipped(result, c.charge_id), c).status == "credited":
                credited += 1
        self._recorded_failing = failing
        if failing:
            self._retries.wake()
        return credited

    async def retry_pending(self) -> bool:
        """One retry round; True when nothing is left to retry."""
        for charge_id, payment in list(self._pending.items()):
            result = await self.credit(payment)
            if result.status != "deferred":
                self._pending.pop(charge_id, None)
        try:
            await self.credit_recorded()
        except Exception as exc:
            log.warning("retrying recorded payments failed (%s)", exc)
            self.write_error = str(exc)
            return False
        if self._pending or self._recorded_failing:
            return False
        self._waiting.clear()
        self.write_error = None
        return True

    @property
    def waiting(self) -> int:
        """Payments that failed to credit and wait for a retry (recorded, or held in memory)."""
        return len(self._waiting | self._pending.keys())

    async def _retry(self) -> bool:
        """The retry loop's job: False (idle until the next deferral) once all is credited."""
        if await self.retry_pending():
            self._retry_delay = RETRY_FIRST
            return False
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)
        return True

    async def stop(self) -> None:
        if self._committer and not self._committer.done():
            try:
                await self._committer  # credits already queued are written, not dropped
            except Exception:
                log.exception("the last group of credits failed while stopping")
        await self._retries.stop()
        if self._pending:
            log.critical(
                "stopping with %d payment(s) not recorded: run `tondonate payments reconcile` once the database "
                "is back (%s)",
                len(self._pending),
                ", ".join(self._pending),
            )
