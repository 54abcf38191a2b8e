"""Refund storms: the same refund delivered 5x concurrently with its payment's own redelivery.

A share of the payments is refunded.  For each refunded one the emulator holds
the payment once or twice and the refund five times, shuffled in with all the
other updates, so the bot handles them in the same batches, concurrently.
Some refunds come before their payment (a refund of an uncredited payment: the
later payment must not be credited), and some refund charges never paid here
(unknown).  The server is killed once in the middle.  At the end each refunded
payment is refunded once, every other payment credited once, and the totals
are the sum of what was not refunded.
"""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path

from tondonate.db import open_database
from tondonate.emulator import BotAPIEmulator

from .support import TOKEN, Payment, Row, Serve, audit, credited_count, drain, payers, plan, wait_until

REFUND_DELIVERIES = 5


async def refund_storm(
    db_url: str,
    workdir: Path,
    *,
    payments: int = 600,
    refunded_share: float = 0.3,
    unknown: int = 30,
    seed: int = 1,
    timeout: float = 180,
) -> Row:
    rng = random.Random(seed)
    unique, _ = plan(payments, 0, rng, prefix="refund")
    refunded = set(rng.sample(range(payments), int(payments * refunded_share)))
    expected = [dataclasses.replace(p, refunded=n in refunded) for n, p in enumerate(unique)]
    never_paid = [
        Payment(p.tg_id, f"refund-unknown-{n}", p.stars, refunded=True) for n, p in enumerate(unique[:unknown])
    ]
    refund_first = {n for n in refunded if rng.random() < 0.25}  # their refund is delivered before the payment
    events: list[tuple[str, Payment]] = []
    for p in expected:
        if p.refunded:
            events += [("pay", p)] * rng.randint(1, 2) + [("refund", p)] * REFUND_DELIVERIES
        else:
            events += [("pay", p)] * rng.choice((1, 1, 2))
    events += [("refund", p) for p in never_paid for _ in range(REFUND_DELIVERIES)]
    rng.shuffle(events)
    # A refund of an uncredited payment: move every delivery of that refund before the payment's first.
    for n in refund_first:
        p = expected[n]
        refunds = [e for e in events if e == ("refund", p)]
        events = [e for e in events if e != ("refund", p)]
        first_pay = events.index(("pay", p))
        events[first_pay:first_pay] = refunds
    db = open_database(db_url)
    row = Row(
        f"refund storm: each refund 5x with its payment, {len(refund_first)} before the payment, {unknown} unknown",
        db.dialect,
        payments + unknown,
        len(events),
    )
    async with BotAPIEmulator(token=TOKEN) as emu:
        users = payers(emu)
        for kind, p in events:
            if kind == "pay":
                emu.deliver_successful_payment(users[p.tg_id], f"unknown-{p.charge_id}", p.stars, p.charge_id)
            else:
                emu.deliver_refunded_payment(users[p.tg_id], f"unknown-{p.charge_id}", p.stars, p.charge_id)
        serve = Serve(emu, db_url, workdir, name="serve-refunds")
        started = time.monotonic()
        await serve.start()
        await db.start()
        try:

            async def some() -> bool:
                return await credited_count(db) >= payments // 3

            await wait_until(some, timeout, interval=0.005)
            await serve.kill()
            await serve.start()

            await drain(db, [emu], payments + unknown, timeout, row)
            row.seconds = time.monotonic() - started
            await serve.stop()
            row.notes.append(f"{len(refunded)} refunded, one kill -9")
            return await audit(db, row, [*expected, *never_paid])
        finally:
            await serve.stop()
            await db.stop()
