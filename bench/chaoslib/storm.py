"""The kill -9 storm: is every payment credited exactly once when the server is killed mid-burst?

The emulator holds N distinct ``successful_payment`` updates plus a share of
duplicates, in random order; a real ``tondonate serve`` long-polls it and is
killed with SIGKILL at random moments while it credits them, then started
again; after the last start it drains the rest.  Two variants:

* *redelivery only*: the payments are NOT in ``getStarTransactions``, so the
  start-up reconcile cannot help -- only Telegram's redelivery of updates the
  bot had not confirmed brings back a payment killed on its way to the database;
* *with reconcile*: the same payments are in ``getStarTransactions`` too, as on
  Telegram.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from tondonate.db import open_database
from tondonate.emulator import BotAPIEmulator

from .support import TOKEN, Row, Serve, audit, credited_count, deliver, drain, plan, wait_until


async def kill_storm(
    db_url: str,
    workdir: Path,
    *,
    payments: int = 2_000,
    duplicates: float = 0.2,
    kills: int = 5,
    in_transactions: bool = False,
    seed: int = 1,
    drain_timeout: float = 180,
    scenario: str | None = None,
) -> Row:
    rng = random.Random(seed)
    unique, order = plan(payments, duplicates, rng)
    scenario = scenario or f"kill -9 storm, {'with reconcile' if in_transactions else 'redelivery only'}"
    db = open_database(db_url)
    row = Row(scenario, db.dialect, payments, len(order))
    mid_credit, opened = 0, False
    try:
        async with BotAPIEmulator(token=TOKEN, bot_username="chaos_bot") as emu:
            deliver(emu, order, in_transactions=in_transactions)
            serve = Serve(emu, db_url, workdir)
            for _ in range(kills):
                await serve.start()
                try:
                    if not opened:
                        await db.start()  # after serve has migrated an empty database
                        opened = True
                    before = await credited_count(db)
                    target = before + rng.randint(1, max(1, (payments - before) // 2))

                    async def reached(target: int = target) -> bool:
                        return not serve.running or await credited_count(db) >= target

                    await wait_until(reached, timeout=120, interval=0.002)
                finally:
                    await serve.kill()
                if 0 < await credited_count(db) < payments:
                    mid_credit += 1
            started = time.monotonic()
            await serve.start()
            try:
                if not opened:
                    await db.start()
                    opened = True
                await drain(db, [emu], payments, drain_timeout, row)
                row.seconds = time.monotonic() - started
                await asyncio.sleep(0.5)  # a straggling duplicate would show now
            finally:
                await serve.stop()
        row.notes.append(f"{kills} kills, {mid_credit} mid-credit; time: drain after the last start")
        return await audit(db, row, unique)
    finally:
        if opened:
            await db.stop()
