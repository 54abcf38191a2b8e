"""Two and three ``serve`` processes on one database, given the same work at once.

Telegram delivers an update to one poller, but a redelivery after a crash, or a
webhook retry racing a poller, reaches another process: here each process
long-polls its own emulator and every emulator holds the same duplicated
payments, so all processes credit the same charges at the same moment.  Then
new users open the Mini App on every process at once, each process with a
different referral code: each user must be created once, with one referrer.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path

import aiohttp

from tondonate.db import open_database
from tondonate.emulator import BotAPIEmulator, sign_init_data

from .support import TOKEN, Row, Serve, audit, deliver, drain, plan

NEWCOMERS_FIRST_ID = 8_100_000
REFERRERS_FIRST_ID = 8_000_000


async def _me(session: aiohttp.ClientSession, serve: Serve, user: dict, start_param: str | None, row: Row) -> None:
    headers = {"Authorization": "tma " + sign_init_data(TOKEN, user, start_param=start_param)}
    async with session.get(f"{serve.url}/api/me", headers=headers) as response:
        await response.read()
        if response.status >= 500:
            row.server_errors += 1
        elif response.status != 200:
            row.failures.append(f"/api/me answered {response.status}")


async def many_processes(
    db_url: str,
    workdir: Path,
    *,
    processes: int = 2,
    payments: int = 500,
    duplicates: float = 0.2,
    newcomers: int = 50,
    seed: int = 1,
    timeout: float = 180,
) -> Row:
    rng = random.Random(seed)
    unique, order = plan(payments, duplicates, rng, prefix=f"multi{processes}")
    db = open_database(db_url)
    row = Row(f"{processes} processes, same updates at once", db.dialect, payments, len(order) * processes)
    async with contextlib.AsyncExitStack() as stack:
        emus = [await stack.enter_async_context(BotAPIEmulator(token=TOKEN)) for _ in range(processes)]
        serves = [Serve(emu, db_url, workdir, name=f"serve-{n}") for n, emu in enumerate(emus)]
        # An empty database: every process migrates it at once, under yoyo's lock.
        for serve in serves:
            stack.push_async_callback(serve.stop)
        await asyncio.gather(*(serve.start() for serve in serves))
        await db.start()
        stack.push_async_callback(db.stop)
        started = time.monotonic()
        for emu in emus:
            deliver(emu, order, in_transactions=True)

        await drain(db, emus, payments, timeout, row)
        row.seconds = time.monotonic() - started
        await asyncio.sleep(0.5)  # a straggling duplicate would show now

        # The referral race: referrers exist, then each newcomer arrives on every process at once.
        async with aiohttp.ClientSession() as session:
            referrers = [{"id": REFERRERS_FIRST_ID + n, "first_name": f"Referrer {n}"} for n in range(processes)]
            await asyncio.gather(*(_me(session, serves[0], r, None, row) for r in referrers))
            for n in range(newcomers):
                user = {"id": NEWCOMERS_FIRST_ID + n, "first_name": f"Newcomer {n}"}
                await asyncio.gather(
                    *(_me(session, s, user, f"ref_{r['id']}", row) for s, r in zip(serves, referrers, strict=True))
                )
        ids = [NEWCOMERS_FIRST_ID + n for n in range(newcomers)]
        rows = await db.fetch(
            f"SELECT tg_id, referrer_id FROM users WHERE tg_id >= {NEWCOMERS_FIRST_ID} AND tg_id < {NEWCOMERS_FIRST_ID + newcomers}"
        )
        with_referrer = sum(1 for r in rows if r["referrer_id"] is not None)
        if len(rows) != len(ids):
            row.failures.append(f"{len(rows)} newcomer rows for {len(ids)} newcomers")
        if with_referrer != len(ids):
            row.failures.append(f"{len(ids) - with_referrer} newcomers without a referrer")
        row.notes.append(
            f"{newcomers} newcomers with {processes} referral codes at once: {with_referrer} with one referrer"
        )
        return await audit(db, row, unique)
