"""Refund storms: the same refund delivered again and again, concurrently with the payment's
own deliveries, from two connections (two processes), in every order; refunds of a payment
the ledger has not credited yet, and of a charge it never saw.  Whatever happens, a payment
ends refunded once, the totals are the sum of the payments not refunded, and
``tondonate db check`` finds nothing (issue #19)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from ledger_support import NANO, count
from offline import OFFLINE_SETTINGS

from tondonate.db import open_database
from tondonate.ledger import IncomingPayment, RefundError, open_ledger, statements
from tondonate.ledger.check import check
from tondonate.settings import build_settings
from tondonate.users import Profile

PAYER = 600
STORM = 5  # deliveries of one refund
FIRST_TIMES = ("refunded", "refunded_uncredited", "recorded_unknown")  # what the refund that counts says


@contextlib.asynccontextmanager
async def two_ledgers(db_url):
    """Two ledgers on two Database instances: two `serve` processes racing for the same rows."""
    settings = build_settings(OFFLINE_SETTINGS, {})
    async with contextlib.AsyncExitStack() as stack:
        dbs = [await stack.enter_async_context(open_database(db_url)) for _ in range(2)]
        yield dbs[0], [await stack.enter_async_context(open_ledger(db, lambda: settings)) for db in dbs]


def payment(charge_id, stars=10):
    return IncomingPayment(charge_id, PAYER, None, stars, "XTR", int(time.time()), Profile(PAYER))


def refund(ledger, p):
    """The refund as the bot applies a refunded_payment message."""
    return ledger.refund(p.charge_id, refunded_at=p.paid_at + 5, tg_id=p.tg_id, stars=p.stars, payload=p.payload)


async def books_agree(db, kept_stars):
    """Only the payments not refunded count, everywhere."""
    assert await check(db) == []
    total = await db.fetchrow("SELECT tons, stars, donations FROM user_totals WHERE tg_id = $1", PAYER)
    assert (total["tons"], total["stars"]) == (kept_stars * NANO, kept_stars)
    live = await db.fetchval("SELECT COALESCE(SUM(stars_amount), 0) FROM donations WHERE refunded_at IS NULL")
    assert live == kept_stars and total["donations"] == await count(db, "donations", "refunded_at IS NULL")
    mismatched = await count(
        db,
        "donations d JOIN payments p ON p.telegram_payment_charge_id = d.charge_id",
        "(p.status = 'refunded') <> (d.refunded_at IS NOT NULL)",
    )
    assert mismatched == 0


@pytest.mark.parametrize("first", ["credited", "racing"])
async def test_a_refund_storm_with_the_payment_redelivered_refunds_it_once(db_url, first):
    """``credited``: the payment is credited, then its refund arrives 5 times at once with a
    redelivery of the payment.  ``racing``: the payment's first delivery is in the storm.
    Every position of the payment's delivery among the refunds, alternating connections."""
    async with two_ledgers(db_url) as (db, ledgers):
        kept = payment("kept", stars=3)
        assert (await ledgers[0].credit(kept)).status == "credited"
        for position in range(STORM + 1):
            p = payment(f"storm-{first}-{position}")
            if first == "credited":
                assert (await ledgers[1].credit(p)).status == "credited"
            calls = [refund(ledgers[n % 2], p) for n in range(STORM)]
            calls.insert(position, ledgers[position % 2].credit(p))
            results = await asyncio.gather(*calls)
            credit = results.pop(position)
            outcomes = sorted(results)
            seen = (position, outcomes, credit)
            # One refund counts; the others find it refunded.
            assert sum(o in FIRST_TIMES for o in outcomes) == 1, seen
            assert outcomes.count("already_refunded") == STORM - 1, seen
            if first == "credited" or credit.status == "credited":
                # credited before the refund that counts: that one took it off every total
                assert outcomes.count("refunded") == 1, seen
            assert credit.status == ("duplicate" if first == "credited" else credit.status), seen
            assert await statements.status_of(db, p.charge_id) == "refunded", seen
            # Delivered once more, later: nothing.
            assert (await ledgers[position % 2].credit(p)).status == "duplicate"
        await books_agree(db, kept_stars=3)


async def test_a_refund_before_its_payment_means_the_payment_is_never_credited(db_url):
    """The refund (5 times, at once) arrives before any delivery of the payment; the payment
    comes afterwards, twice at once, from both connections, and again from the retry of
    recorded payments: it is never credited."""
    async with two_ledgers(db_url) as (db, ledgers):
        kept = payment("kept-2", stars=4)
        assert (await ledgers[0].credit(kept)).status == "credited"
        p = payment("refunded-first")
        outcomes = sorted(await asyncio.gather(*(refund(ledgers[n % 2], p) for n in range(STORM))))
        assert outcomes == ["already_refunded"] * (STORM - 1) + ["recorded_unknown"], outcomes
        results = await asyncio.gather(ledgers[0].credit(p), ledgers[1].credit(p))
        assert [r.status for r in results] == ["duplicate", "duplicate"]
        assert await ledgers[0].credit_recorded() == 0
        assert await statements.status_of(db, p.charge_id) == "refunded"
        assert await count(db, "donations", "charge_id = $1", p.charge_id) == 0

        # Recorded but not credited (a credit that failed): refunded before the retry credits it.
        q = payment("recorded-then-refunded")
        await db.write_steps(statements.record_steps(q, "1", 10 * NANO, q.paid_at))
        outcomes = sorted(await asyncio.gather(*(refund(ledgers[n % 2], q) for n in range(STORM))))
        assert outcomes == ["already_refunded"] * (STORM - 1) + ["refunded_uncredited"], outcomes
        assert await ledgers[1].credit_recorded() == 0
        assert (await ledgers[0].credit(q)).status == "duplicate"
        await books_agree(db, kept_stars=4)


async def test_a_refund_of_an_unknown_charge_is_recorded_and_blocks_its_payment(db_url):
    async with two_ledgers(db_url) as (db, ledgers):
        kept = payment("kept-3", stars=2)
        assert (await ledgers[0].credit(kept)).status == "credited"
        ghost = payment("never-seen")
        assert await refund(ledgers[1], ghost) == "recorded_unknown"
        assert await refund(ledgers[0], ghost) == "already_refunded"
        row = await db.fetchrow(
            "SELECT status, tg_id, stars_amount, tons_amount FROM payments WHERE telegram_payment_charge_id = $1",
            ghost.charge_id,
        )
        assert (row["status"], row["tg_id"], row["stars_amount"], row["tons_amount"]) == ("refunded", PAYER, 10, 0)
        assert (await ledgers[1].credit(ghost)).status == "duplicate"
        await books_agree(db, kept_stars=2)


async def test_a_refund_without_its_payer_for_a_charge_never_seen_is_refused(db_url):
    """Nothing could be recorded (a payment row needs its payer), and recording nothing would
    let a later delivery of the payment be credited: the ledger refuses, loudly."""
    async with two_ledgers(db_url) as (db, ledgers):
        with pytest.raises(RefundError, match="never-seen-2"):
            await ledgers[0].refund("never-seen-2", refunded_at=int(time.time()))
        assert await count(db, "payments") == 0
        # A charge the ledger knows needs no payer (the CLI and reconcile refund so).
        p = payment("known")
        assert (await ledgers[1].credit(p)).status == "credited"
        assert await ledgers[0].refund("known") == "refunded"
        assert await ledgers[1].refund("known") == "already_refunded"
        await books_agree(db, kept_stars=0)
