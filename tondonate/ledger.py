"""The money path: invoices, pre-checkout checks, crediting, refunds.

Exactly-once crediting rests on two guards inside one atomic batch:
``payments.telegram_payment_charge_id`` is the primary key, and the flip of a
payment from ``created`` to ``paid`` is guarded, so only the batch that flips
it writes the donation and the aggregates.  A redelivered update, a second
process, or reconciliation finds nothing to flip and credits nothing.

Nothing is lost: if the crediting batch fails, the payment is recorded on its
own (status ``created``) and credited by a retry; if even that fails, it stays
in memory for retries, and ``reconcile`` recovers anything Telegram has that
the ledger lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from decimal import Decimal
from typing import Any, Callable

import orjson

from .db import Database, Step
from .money import to_nano, tons_for
from .settings import Settings
from .users import Profile
from .weeks import week_key

log = logging.getLogger(__name__)

CURRENCY = "XTR"
PRESET_IDS = ("place1", "place2", "place3")
RATE_WINDOW = 60  # seconds of the per-user invoice limit

# The crediting statements, built once.  reached_at keeps the latest donation
# time (a late-delivered older payment does not move it back).
_NEWER = "CASE WHEN excluded.reached_at > {t}.reached_at THEN excluded.reached_at ELSE {t}.reached_at END"
_REFERRER_OF = "FROM users WHERE tg_id = $1 AND referrer_id IS NOT NULL"
_FLIP_PAID = "UPDATE payments SET status = 'paid', paid_at = $2 WHERE telegram_payment_charge_id = $1 AND status = 'created'"
# A missing payer row fails the foreign key and rolls the whole batch back.
_INSERT_DONATION = (
    "INSERT INTO donations (charge_id, tg_id, referrer_id, stars_amount, tons_amount, created_at, week_key) "
    "VALUES ($1, $2, (SELECT referrer_id FROM users WHERE tg_id = $2), $3, $4, $5, $6)"
)
_ADD_USER_TOTAL = (
    "INSERT INTO user_totals (tg_id, tons, stars, donations, reached_at) VALUES ($1, $2, $3, 1, $4) "
    "ON CONFLICT (tg_id) DO UPDATE SET tons = user_totals.tons + excluded.tons, "
    "stars = user_totals.stars + excluded.stars, donations = user_totals.donations + 1, "
    f"reached_at = {_NEWER.format(t='user_totals')}"
)
_ADD_USER_WEEK = (
    "INSERT INTO user_week_totals (week_key, tg_id, tons, stars, donations, reached_at) VALUES ($1, $2, $3, $4, 1, $5) "
    "ON CONFLICT (week_key, tg_id) DO UPDATE SET tons = user_week_totals.tons + excluded.tons, "
    "stars = user_week_totals.stars + excluded.stars, donations = user_week_totals.donations + 1, "
    f"reached_at = {_NEWER.format(t='user_week_totals')}"
)
_ADD_REFERRER_TOTAL = (
    f"INSERT INTO referrer_totals (referrer_id, referrals_count, tons, reached_at) SELECT referrer_id, 0, $2, $3 {_REFERRER_OF} "
    "ON CONFLICT (referrer_id) DO UPDATE SET tons = referrer_totals.tons + excluded.tons, "
    f"reached_at = {_NEWER.format(t='referrer_totals')}"
)
_ADD_REFERRER_WEEK = (
    f"INSERT INTO referrer_week_totals (week_key, referrer_id, tons, reached_at) SELECT $4, referrer_id, $2, $3 {_REFERRER_OF} "
    "ON CONFLICT (week_key, referrer_id) DO UPDATE SET tons = referrer_week_totals.tons + excluded.tons, "
    f"reached_at = {_NEWER.format(t='referrer_week_totals')}"
)


# The same credit for many payments in one transaction (group commit).  There is
# no guard step to stop a batch that holds other payments' credits.  Instead the
# flip to 'paid' comes first and every later statement of that payment's credit
# is conditioned on "paid and no donation yet": the flip and the donation are
# always committed together, so that state exists only inside the transaction
# that has just flipped the payment.  The flip's row count says whether it was
# credited.  The flip also takes the payment's row lock (PostgreSQL), so a
# concurrent credit or refund of the same payment waits for this transaction and
# then finds nothing to flip.  The donation is written last, closing the window.
_JUST_FLIPPED = (
    "EXISTS (SELECT 1 FROM payments WHERE telegram_payment_charge_id = $1 AND status = 'paid') "
    "AND NOT EXISTS (SELECT 1 FROM donations WHERE charge_id = $1)"
)
# $1 charge_id, $2 tg_id, $3 tons_nano, $4 stars, $5 paid_at
_GROUP_USER_TOTAL = (
    f"INSERT INTO user_totals (tg_id, tons, stars, donations, reached_at) SELECT $2, $3, $4, 1, $5 WHERE {_JUST_FLIPPED} "
    + _ADD_USER_TOTAL[_ADD_USER_TOTAL.index("ON CONFLICT"):]
)
# $1 charge_id, $2 tg_id, $3 tons_nano, $4 stars, $5 paid_at, $6 week_key
_GROUP_USER_WEEK = (
    "INSERT INTO user_week_totals (week_key, tg_id, tons, stars, donations, reached_at) "
    f"SELECT $6, $2, $3, $4, 1, $5 WHERE {_JUST_FLIPPED} "
    + _ADD_USER_WEEK[_ADD_USER_WEEK.index("ON CONFLICT"):]
)
# $1 charge_id, $2 tg_id, $3 tons_nano, $4 paid_at
_GROUP_REFERRER_TOTAL = (
    "INSERT INTO referrer_totals (referrer_id, referrals_count, tons, reached_at) SELECT referrer_id, 0, $3, $4 "
    f"FROM users WHERE tg_id = $2 AND referrer_id IS NOT NULL AND {_JUST_FLIPPED} "
    + _ADD_REFERRER_TOTAL[_ADD_REFERRER_TOTAL.index("ON CONFLICT"):]
)
# $1 charge_id, $2 tg_id, $3 tons_nano, $4 paid_at, $5 week_key
_GROUP_REFERRER_WEEK = (
    "INSERT INTO referrer_week_totals (week_key, referrer_id, tons, reached_at) SELECT $5, referrer_id, $3, $4 "
    f"FROM users WHERE tg_id = $2 AND referrer_id IS NOT NULL AND {_JUST_FLIPPED} "
    + _ADD_REFERRER_WEEK[_ADD_REFERRER_WEEK.index("ON CONFLICT"):]
)
# $1 charge_id, $2 tg_id, $3 stars, $4 tons_nano, $5 paid_at, $6 week_key
_GROUP_DONATION = (
    "INSERT INTO donations (charge_id, tg_id, referrer_id, stars_amount, tons_amount, created_at, week_key) "
    f"SELECT $1, $2, (SELECT referrer_id FROM users WHERE tg_id = $2), $3, $4, $5, $6 WHERE {_JUST_FLIPPED}"
)
GROUP_MAX = 200  # payments per group transaction
GROUP_FLIP = 2  # index of the flip among a payment's group_credit_steps (after the 2 record steps)


@dataclasses.dataclass
class _Queued:
    payment: "IncomingPayment"
    done: asyncio.Future
    rate: Decimal = Decimal(0)  # set when the group is priced
    tons_nano: int = 0
    week: str = ""


class InvoiceError(ValueError):
    """A client asked for an invoice we will not issue; ``code`` is the API error code."""

    def __init__(self, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclasses.dataclass(frozen=True)
class Quote:
    invoice_id: str
    stars: int
    preset_id: str | None
    tons_per_star: Decimal
    tons: Decimal


@dataclasses.dataclass(frozen=True)
class IncomingPayment:
    """A successful payment as Telegram reported it (update or getStarTransactions)."""

    charge_id: str
    tg_id: int
    payload: str | None
    stars: int
    currency: str
    paid_at: int  # unix seconds Telegram took the money (message date)
    profile: Profile
    raw: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class _Flip:
    completed: bool


@dataclasses.dataclass(frozen=True)
class CreditResult:
    status: str  # credited | duplicate | deferred
    charge_id: str
    tons_nano: int = 0


class Ledger:
    def __init__(self, db: Database, get_settings: Callable[[], Settings], rates, *, clock: Callable[[], float] = time.time):
        self.db = db
        self.get_settings = get_settings
        self.rates = rates
        self.clock = clock
        self._pending: dict[str, IncomingPayment] = {}  # payments the DB could not even record yet
        self._retry_task: asyncio.Task | None = None
        self._queue: list[_Queued] = []  # credits waiting for the next group transaction
        self._committer: asyncio.Task | None = None

    # ------------------------------------------------------------------ invoices
    def check_amount(self, stars: Any, preset_id: Any, settings: Settings) -> tuple[int, str | None]:
        """The Stars amount to invoice, or InvoiceError naming what is allowed."""
        if preset_id is not None:
            if preset_id not in PRESET_IDS:
                raise InvoiceError("invalid_preset", f"preset_id must be one of {', '.join(PRESET_IDS)}")
            preset_stars = settings.presets[PRESET_IDS.index(preset_id)]
            if stars is None:
                return preset_stars, preset_id
            if isinstance(stars, bool) or not isinstance(stars, int) or stars != preset_stars:
                raise InvoiceError("preset_mismatch", f"{preset_id} costs {preset_stars} Stars; stars_amount must match or be omitted")
            return stars, preset_id
        if stars is None:
            raise InvoiceError("missing_amount", "stars_amount is required when no preset_id is given")
        if isinstance(stars, bool) or not isinstance(stars, int):
            raise InvoiceError("invalid_amount", "stars_amount must be a whole number of Stars")
        low, high = settings["donations.min_stars"], settings["donations.max_stars"]
        if not low <= stars <= high:
            raise InvoiceError("amount_out_of_range", f"stars_amount must be between {low} and {high} Stars")
        return stars, None

    async def quote(self, stars: int, settings: Settings) -> tuple[Decimal, Decimal]:
        rate = await self.rates.get_rate()
        return rate, tons_for(stars, rate, settings.tons_decimals, settings.tons_rounding)

    async def check_invoice_limit(self, tg_id: int, settings: Settings) -> None:
        now = int(self.clock())
        limit = settings["limits.invoices_per_minute"]
        rows = await self.db.fetch(
            "SELECT created_at FROM invoices WHERE tg_id = $1 AND created_at > $2 ORDER BY created_at LIMIT $3",
            tg_id, now - RATE_WINDOW, limit,
        )
        if len(rows) >= limit:
            retry_after = max(1, rows[0]["created_at"] + RATE_WINDOW - now)
            raise InvoiceError("rate_limited", f"Too many invoices: at most {limit} per minute", retry_after)

    async def create_invoice(self, bot, tg_id: int, stars: Any, preset_id: Any = None, language_code: str | None = None) -> tuple[Quote, str]:
        """Validate, quote the current rate, store the invoice and ask Telegram for a link."""
        from .i18n import t
        from .money import format_tons

        settings = self.get_settings()
        stars, preset_id = self.check_amount(stars, preset_id, settings)
        row = await self.db.fetchrow("SELECT is_blocked FROM users WHERE tg_id = $1", tg_id)
        if row is None:
            raise InvoiceError("unknown_user", "Open the Mini App first")
        if row["is_blocked"]:
            raise InvoiceError("user_blocked", "Payments are disabled for this account")
        await self.check_invoice_limit(tg_id, settings)
        rate, tons = await self.quote(stars, settings)
        quote = Quote(secrets.token_urlsafe(16), stars, preset_id, rate, tons)
        await self.db.execute(
            "INSERT INTO invoices (id, tg_id, stars_amount, preset_id, tons_per_star, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            quote.invoice_id, tg_id, stars, preset_id, str(rate), int(self.clock()),
        )
        from aiogram.types import LabeledPrice

        tons_text = format_tons(to_nano(tons), settings.tons_decimals)
        link = await bot.create_invoice_link(
            title=t(language_code, "invoice_title", stars=stars)[:32],
            description=t(language_code, "invoice_description", stars=stars, tons=tons_text)[:255],
            payload=quote.invoice_id,
            currency=CURRENCY,
            prices=[LabeledPrice(label=t(language_code, "invoice_label"), amount=stars)],
            provider_token="",
        )
        log.info("invoice created id=%s tg_id=%s stars=%s preset=%s tons_per_star=%s", quote.invoice_id, tg_id, stars, preset_id, rate)
        return quote, link

    # ------------------------------------------------------------- pre-checkout
    async def precheck(self, tg_id: int, payload: str, total_amount: int, currency: str) -> str | None:
        """None when the payment may go ahead, else the i18n key of the refusal.  DB reads only."""
        invoice = await self.db.fetchrow("SELECT tg_id, stars_amount FROM invoices WHERE id = $1", payload)
        if invoice is None:
            return "precheckout_unknown"
        if invoice["tg_id"] != tg_id:
            return "precheckout_other_user"
        if currency != CURRENCY or total_amount != invoice["stars_amount"]:
            return "precheckout_mismatch"
        if await self.db.fetchval("SELECT is_blocked FROM users WHERE tg_id = $1", tg_id):
            return "precheckout_blocked"
        return None

    # ------------------------------------------------------------------ credit
    async def _quoted_rates(self, payloads: list[str | None]) -> dict[str, str]:
        """invoice id -> the tons_per_star quoted on it, for the known ones among ``payloads``."""
        ids = sorted({p for p in payloads if p})
        if not ids:
            return {}
        if len(ids) == 1:
            row = await self.db.fetchrow("SELECT tons_per_star FROM invoices WHERE id = $1", ids[0])
            return {} if row is None else {ids[0]: row["tons_per_star"]}
        marks = ", ".join(f"${i}" for i in range(1, len(ids) + 1))
        rows = await self.db.fetch(f"SELECT id, tons_per_star FROM invoices WHERE id IN ({marks})", *ids)
        return {row["id"]: row["tons_per_star"] for row in rows}

    async def _price(self, payment: IncomingPayment, settings: Settings,
                     quoted: dict[str, str] | None = None) -> tuple[Decimal, int]:
        if quoted is None:
            quoted = await self._quoted_rates([payment.payload])
        if payment.payload in quoted:
            rate = Decimal(quoted[payment.payload])
        else:
            # The money was taken all the same: credit at today's rate, and say so.
            rate = await self.rates.get_rate()
            log.warning(
                "payment with unknown payload credited at the current rate charge_id=%s tg_id=%s payload=%r rate=%s",
                payment.charge_id, payment.tg_id, payment.payload, rate,
            )
        tons = tons_for(payment.stars, rate, settings.tons_decimals, settings.tons_rounding)
        return rate, to_nano(tons)

    @staticmethod
    def record_steps(p: IncomingPayment, rate: Decimal, tons_nano: int, now: int) -> list[Step]:
        """Record the payer and the payment (status created), idempotently."""
        prof = p.profile
        return [
            Step(
                "INSERT INTO users (tg_id, username, first_name, last_name, language_code, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (tg_id) DO NOTHING",
                (p.tg_id, prof.username, prof.first_name, prof.last_name, prof.language_code, now),
            ),
            Step(
                "INSERT INTO payments (telegram_payment_charge_id, tg_id, invoice_id, stars_amount, tons_per_star, "
                "tons_amount, status, created_at, raw) VALUES ($1, $2, $3, $4, $5, $6, 'created', $7, $8) "
                "ON CONFLICT (telegram_payment_charge_id) DO NOTHING",
                (p.charge_id, p.tg_id, p.payload, p.stars, str(rate), tons_nano, p.paid_at,
                 orjson.dumps(p.raw).decode() if p.raw is not None else None),
            ),
        ]

    @staticmethod
    def credit_steps(charge_id: str, tg_id: int, stars: int, tons_nano: int, paid_at: int, week: str, now: int) -> list[Step]:
        """Flip created -> paid (the guard), then the donation and every aggregate."""
        return [
            Step(_FLIP_PAID, (charge_id, now), guard=True),
            Step(_INSERT_DONATION, (charge_id, tg_id, stars, tons_nano, paid_at, week)),
            Step(_ADD_USER_TOTAL, (tg_id, tons_nano, stars, paid_at)),
            Step(_ADD_USER_WEEK, (week, tg_id, tons_nano, stars, paid_at)),
            Step(_ADD_REFERRER_TOTAL, (tg_id, tons_nano, paid_at)),
            Step(_ADD_REFERRER_WEEK, (tg_id, tons_nano, paid_at, week)),
        ]

    async def credit(self, payment: IncomingPayment) -> CreditResult:
        """Credit a successful payment exactly once.  Never raises for a DB failure:
        the payment is kept (in the DB as ``created``, or in memory) and retried.

        Credits arriving together (a getUpdates batch is handled as concurrent
        tasks) share one transaction: one commit, one fsync for the group."""
        done = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(payment, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups(), name="ledger-group-commit")
        # shield: a cancelled caller (shutdown) does not cancel a credit already on its way
        return await asyncio.shield(done)

    async def _credit_one(self, q: _Queued) -> CreditResult:
        """One payment in a transaction of its own, with the guard step."""
        p, now = q.payment, int(self.clock())
        try:
            result = await self.db.write_steps(
                self.record_steps(p, q.rate, q.tons_nano, now)
                + self.credit_steps(p.charge_id, p.tg_id, p.stars, q.tons_nano, p.paid_at, q.week, now)
            )
        except Exception as exc:
            return await self._defer(p, exc)
        return self._report(result, p.charge_id, p.tg_id, p.stars, q.tons_nano, q.week)

    @staticmethod
    def group_credit_steps(p: IncomingPayment, rate: Decimal, tons_nano: int, week: str, now: int) -> list[Step]:
        """Record and credit ``p`` with no guard step (see _JUST_FLIPPED); step GROUP_FLIP is the flip."""
        c, t, stars, at = p.charge_id, p.tg_id, p.stars, p.paid_at
        return Ledger.record_steps(p, rate, tons_nano, now) + [
            Step(_FLIP_PAID, (c, now)),
            Step(_GROUP_USER_TOTAL, (c, t, tons_nano, stars, at)),
            Step(_GROUP_USER_WEEK, (c, t, tons_nano, stars, at, week)),
            Step(_GROUP_REFERRER_TOTAL, (c, t, tons_nano, at)),
            Step(_GROUP_REFERRER_WEEK, (c, t, tons_nano, at, week)),
            Step(_GROUP_DONATION, (c, t, stars, tons_nano, at, week)),
        ]

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
                        q.done.cancel() if isinstance(exc, asyncio.CancelledError) else q.done.set_exception(exc)
                raise

    async def _commit_group(self, group: list[_Queued]) -> None:
        """Price ``group`` (one read for all its invoices), credit it, resolve its futures."""
        priced, results = [], {}
        settings = self.get_settings()
        try:
            quoted = await self._quoted_rates([q.payment.payload for q in group])  # one read for the group
        except Exception as exc:
            quoted, failure = None, exc
        for q in group:
            try:
                if quoted is None:
                    raise failure
                q.rate, q.tons_nano = await self._price(q.payment, settings, quoted)
                q.week = week_key(q.payment.paid_at, settings.timezone)
                priced.append(q)
            except Exception as exc:
                results[id(q)] = await self._defer(q.payment, exc)
        if len(priced) == 1:
            results[id(priced[0])] = await self._credit_one(priced[0])
        elif priced:
            results.update(zip(map(id, priced), await self._credit_group(priced)))
        for q in group:
            if not q.done.done():
                q.done.set_result(results[id(q)])

    async def _credit_group(self, group: list[_Queued]) -> list[CreditResult]:
        now = int(self.clock())
        steps: list[Step] = []
        for q in group:
            steps += self.group_credit_steps(q.payment, q.rate, q.tons_nano, q.week, now)
        try:
            result = await self.db.write_steps(steps)
        except Exception as exc:
            # One bad payment must not hold back the others: each on its own, as usual.
            log.warning("crediting %d payments together failed (%s); crediting them one by one", len(group), exc)
            return [await self._credit_one(q) for q in group]
        per = len(steps) // len(group)
        results = []
        for i, q in enumerate(group):
            p = q.payment
            flipped = result.counts[i * per + GROUP_FLIP] > 0
            results.append(self._report(_Flip(flipped), p.charge_id, p.tg_id, p.stars, q.tons_nano, q.week))
        return results

    def _report(self, result, charge_id: str, tg_id: int, stars: int, tons_nano: int, week: str) -> CreditResult:
        if result.completed:
            log.info("payment credited charge_id=%s tg_id=%s stars=%s tons_nano=%s week=%s", charge_id, tg_id, stars, tons_nano, week)
            return CreditResult("credited", charge_id, tons_nano)
        log.info("payment duplicate charge_id=%s tg_id=%s: already credited, nothing done", charge_id, tg_id)
        return CreditResult("duplicate", charge_id)

    async def _defer(self, payment: IncomingPayment, exc: Exception) -> CreditResult:
        log.error("crediting payment %s failed (%s); recording it for a retry", payment.charge_id, exc)
        try:
            settings = self.get_settings()
            rate, tons_nano = await self._price(payment, settings)
            await self.db.write_steps(self.record_steps(payment, rate, tons_nano, int(self.clock())))
        except Exception as exc2:
            log.error("could not even record payment %s (%s); kept in memory, retrying", payment.charge_id, exc2)
            self._pending[payment.charge_id] = payment
        self._ensure_retry_loop()
        return CreditResult("deferred", payment.charge_id)

    async def credit_recorded(self) -> int:
        """Credit every payment recorded as ``created`` (a crash or DB error between record and credit)."""
        settings = self.get_settings()
        rows = await self.db.fetch(
            "SELECT telegram_payment_charge_id, tg_id, stars_amount, tons_amount, created_at FROM payments "
            "WHERE status = 'created' ORDER BY created_at"
        )
        credited = 0
        for row in rows:
            week = week_key(row["created_at"], settings.timezone)
            steps = self.credit_steps(row[0], row["tg_id"], row["stars_amount"], row["tons_amount"], row["created_at"], week, int(self.clock()))
            result = await self.db.write_steps(steps)
            if self._report(result, row[0], row["tg_id"], row["stars_amount"], row["tons_amount"], week).status == "credited":
                credited += 1
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
            return False
        return not self._pending

    def _ensure_retry_loop(self) -> None:
        if self._retry_task is None or self._retry_task.done():
            self._retry_task = asyncio.create_task(self._retry_loop(), name="ledger-retry")

    async def _retry_loop(self, first_delay: float = 0.5, max_delay: float = 30.0) -> None:
        delay = first_delay
        while True:
            await asyncio.sleep(delay)
            if await self.retry_pending():
                return
            delay = min(delay * 2, max_delay)

    async def stop(self) -> None:
        if self._committer and not self._committer.done():
            with contextlib.suppress(Exception):
                await self._committer  # credits already queued are written, not dropped
        if self._retry_task:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry_task
        if self._pending:
            log.critical(
                "stopping with %d payment(s) not recorded: run `tondonate payments reconcile` once the database is back (%s)",
                len(self._pending), ", ".join(self._pending),
            )

    # ------------------------------------------------------------------ refunds
    async def refund(self, charge_id: str, *, refunded_at: int | None = None, tg_id: int | None = None,
                     stars: int | None = None, payload: str | None = None) -> str:
        """Mark a payment refunded and take its tons off every board, exactly once.

        Returns refunded | already_refunded | refunded_uncredited | recorded_unknown."""
        at = int(self.clock()) if refunded_at is None else refunded_at
        donation = await self.db.fetchrow(
            "SELECT tg_id, referrer_id, stars_amount, tons_amount, week_key FROM donations WHERE charge_id = $1", charge_id
        )
        if donation is not None:
            d_tg, ref, d_stars, d_tons, week = (donation["tg_id"], donation["referrer_id"], donation["stars_amount"],
                                                donation["tons_amount"], donation["week_key"])
            steps = [
                Step("UPDATE payments SET status = 'refunded', refunded_at = $2 WHERE telegram_payment_charge_id = $1 AND status = 'paid'",
                     (charge_id, at), guard=True),
                Step("UPDATE donations SET refunded_at = $2 WHERE charge_id = $1", (charge_id, at)),
                Step("UPDATE user_totals SET tons = tons - $2, stars = stars - $3, donations = donations - 1 WHERE tg_id = $1",
                     (d_tg, d_tons, d_stars)),
                Step("UPDATE user_week_totals SET tons = tons - $3, stars = stars - $4, donations = donations - 1 "
                     "WHERE week_key = $1 AND tg_id = $2", (week, d_tg, d_tons, d_stars)),
            ]
            if ref is not None:
                steps += [
                    Step("UPDATE referrer_totals SET tons = tons - $2 WHERE referrer_id = $1", (ref, d_tons)),
                    Step("UPDATE referrer_week_totals SET tons = tons - $3 WHERE week_key = $1 AND referrer_id = $2", (week, ref, d_tons)),
                ]
            result = await self.db.write_steps(steps)
            if result.completed:
                log.info("payment refunded charge_id=%s tg_id=%s stars=%s tons_nano=%s", charge_id, d_tg, d_stars, d_tons)
                return "refunded"
            log.info("payment refund duplicate charge_id=%s: already refunded", charge_id)
            return "already_refunded"
        # Not credited: refunded before crediting, or never seen.  Record it so a
        # late successful_payment or reconcile cannot credit it afterwards.
        flipped = await self.db.execute(
            "UPDATE payments SET status = 'refunded', refunded_at = $2 WHERE telegram_payment_charge_id = $1 AND status = 'created'",
            charge_id, at,
        )
        if flipped:
            log.info("payment refunded before crediting charge_id=%s", charge_id)
            return "refunded_uncredited"
        if tg_id is None:
            status = await self.db.fetchval("SELECT status FROM payments WHERE telegram_payment_charge_id = $1", charge_id)
            return "already_refunded" if status == "refunded" else "unknown"
        await self.db.write_steps([
            Step("INSERT INTO users (tg_id, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (tg_id) DO NOTHING", (tg_id, at)),
            Step(
                "INSERT INTO payments (telegram_payment_charge_id, tg_id, invoice_id, stars_amount, tons_per_star, tons_amount, "
                "status, created_at, refunded_at) VALUES ($1, $2, $3, $4, '0', 0, 'refunded', $5, $5) "
                "ON CONFLICT (telegram_payment_charge_id) DO NOTHING",
                (charge_id, tg_id, payload, stars or 0, at),
            ),
        ])
        log.warning("refund for a payment the ledger never saw charge_id=%s tg_id=%s: recorded as refunded", charge_id, tg_id)
        return "recorded_unknown"
