"""Payments benchmark: successful_payment updates per second through the real bot.

Run by hand (not part of the tests):

    python bench/bench_payments.py                     # 5,000 updates, 20% duplicates
    python bench/bench_payments.py --updates 20000 --duplicates 0.1
    python bench/bench_payments.py --profile out.prof  # cProfile of the server side

The path measured is the production one: a Bot API emulator (Telegram's
stand-in, in a child process so its CPU is not charged to the bot) holds the
updates; the app from ``create_app`` (the bot's getUpdates loop, bot/updates.py,
long-polling the emulator over HTTP and feeding aiogram's real Dispatcher, which
confirms a batch only once it is handled; the read model, the ledger) takes them, credits each
payment into SQLite exactly once and queues a thank-you, which goes out at
``bot.thanks_per_second`` (Telegram's flood limit), not at the payments' pace:
the count of thank-yous sent is printed.
``--duplicates`` of the updates repeat an earlier charge, some in the same
getUpdates batch as the original.

The clock starts after a warm-up (a /start and one payment: aiogram builds its
pydantic schemas on first use) and stops when aiogram has handled the last
update.  CPU time per update is printed too: on a shared machine it is the
steadier figure.

Printed beside it, measured in the same run on the same disk with the same
PRAGMAs (WAL, synchronous=FULL): the crediting batch in a loop through
``Database.write_steps``, one payment per transaction (the ledger's single
path) and 200 per transaction (its group commit), and a plain aiosqlite loop
of one INSERT per transaction (the disk's ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "424242:BENCH-token"
FIRST_ID = 800_000_000
USERS = 1_000
TARGET = 1_000  # payments per second


# -- the Telegram side, in its own process ----------------------------------------------


def plan(updates: int, duplicates: float, seed: int = 7) -> list[tuple[int, str, int]]:
    """[(tg_id, charge_id, stars)] in delivery order; a ``duplicates`` share repeats an earlier charge."""
    rng = random.Random(seed)
    unique = updates - int(updates * duplicates)
    firsts = [(FIRST_ID + rng.randrange(USERS), f"bench-{n}", rng.choice((1, 5, 25, 50, 100))) for n in range(unique)]
    order = list(firsts)
    for _ in range(updates - unique):
        n = rng.randrange(unique)
        order.insert(rng.randrange(n + 1, len(order) + 1), firsts[n])  # after its original, maybe near it
    return order


WARM_UPDATES = 2  # a /start and one payment, handled before the clock starts


def emulator_main(conn, updates: int, duplicates: float) -> None:
    """Telegram's side: "warm" pushes a /start and one payment, "go" the whole plan, "stop" ends."""
    from tondonate.emulator import BotAPIEmulator

    async def main():
        recv = lambda: asyncio.get_running_loop().run_in_executor(None, conn.recv)  # noqa: E731
        async with BotAPIEmulator(token=TOKEN, bot_username="bench_bot") as emu:
            users = {tg_id: emu.make_user(tg_id) for tg_id in range(FIRST_ID, FIRST_ID + USERS)}
            order = plan(updates, duplicates)
            conn.send(emu.base_url)
            assert await recv() == "warm"
            emu.send_text(users[FIRST_ID], "/start")
            emu.deliver_successful_payment(users[FIRST_ID], "inv-warm", 1, "warm", record_transaction=False)
            assert await recv() == "go"
            cpu = time.process_time()
            for tg_id, charge, stars in order:
                # No StarTransaction: a reconcile must not credit them before the bot does.
                emu.deliver_successful_payment(users[tg_id], f"inv-{charge}", stars, charge, record_transaction=False)
            assert await recv() == "stop"
            conn.send((len(emu.sent_messages()) - 2, time.process_time() - cpu))

    asyncio.run(main())


# -- the database ---------------------------------------------------------------------------


async def seed(url: str, plan_: list[tuple[int, str, int]]) -> None:
    """Users (a fifth of them referred) and the invoices the payments pay."""
    from tondonate.db import open_database

    db = open_database(url)
    await db.start()
    now = int(time.time())
    users = [
        (tg_id, f"User {tg_id}", now, now, FIRST_ID if tg_id % 5 == 0 and tg_id != FIRST_ID else None)
        for tg_id in range(FIRST_ID, FIRST_ID + USERS)
    ]
    await db.executemany(
        "INSERT INTO users (tg_id, first_name, created_at, updated_at, referrer_id) VALUES ($1, $2, $3, $4, $5)",
        sorted(users, key=lambda u: u[4] is not None),
    )
    invoices = {charge: (f"inv-{charge}", tg_id, stars, None, "0.5", now) for tg_id, charge, stars in plan_}
    invoices["warm"] = ("inv-warm", FIRST_ID, 1, None, "0.5", now)
    await db.executemany(
        "INSERT INTO invoices (id, tg_id, stars_amount, preset_id, tons_per_star, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        list(invoices.values()),
    )
    await db.stop()


async def write_steps_rate(url: str, count: int) -> float:
    """The ledger's crediting batch (record + flip + donation + 4 aggregates), one after another."""
    from tondonate.db import open_database
    from tondonate.ledger import IncomingPayment, statements
    from tondonate.ledger.types import Credit
    from tondonate.users import Profile
    from tondonate.weeks import week_key

    db = open_database(url)
    await db.start()
    now = int(time.time())
    week = week_key(now, "Europe/Berlin")
    started = time.perf_counter()
    for n in range(count):
        tg_id = FIRST_ID + n % USERS
        p = IncomingPayment(f"raw-{n}", tg_id, f"inv-raw-{n}", 10, "XTR", now, Profile(tg_id))
        credit = Credit(p.charge_id, tg_id, 10, 5_000_000_000, now, week)
        steps = statements.credit_one(p, "0.5", credit, now)  # the same SQL as a credit
        await db.write_steps(steps)
    elapsed = time.perf_counter() - started
    await db.stop()
    return count / elapsed


async def group_steps_rate(url: str, count: int, group: int = 200) -> float:
    """The ledger's group commit: ``group`` payments' guard-free credits per transaction."""
    from tondonate.db import open_database
    from tondonate.ledger import IncomingPayment, statements
    from tondonate.ledger.types import Credit
    from tondonate.users import Profile
    from tondonate.weeks import week_key

    db = open_database(url)
    await db.start()
    now = int(time.time())
    week = week_key(now, "Europe/Berlin")
    started = time.perf_counter()
    for first in range(0, count, group):
        entries = []
        for n in range(first, min(first + group, count)):
            tg_id = FIRST_ID + n % USERS
            p = IncomingPayment(f"grouped-{n}", tg_id, f"inv-grouped-{n}", 10, "XTR", now, Profile(tg_id))
            entries.append((p, "0.5", Credit(p.charge_id, tg_id, 10, 5_000_000_000, now, week)))
        steps = statements.credit_group(entries, now)
        await db.write_steps(steps)
    elapsed = time.perf_counter() - started
    await db.stop()
    return count / elapsed


async def plain_insert_rate(path: str, count: int) -> float:
    """aiosqlite, one INSERT per transaction, same PRAGMAs: what the disk allows."""
    import aiosqlite

    from tondonate.db.sqlite import PRAGMAS

    async with aiosqlite.connect(path, isolation_level=None) as conn:
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        started = time.perf_counter()
        for n in range(count):
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute("INSERT INTO t (id, v) VALUES (?, ?)", (n, "x"))
            await conn.execute("COMMIT")
        return count / (time.perf_counter() - started)


# -- the bot side: the real app ---------------------------------------------------------------


class Counter(logging.Handler):
    """Counts aiogram's "Update id=... is handled" lines: every update fully processed."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.handled = 0
        self.done = asyncio.Event()
        self.expected = 0

    def emit(self, record):
        if record.msg.startswith("Update id="):
            self.handled += 1
            if self.handled >= self.expected:
                self.done.set()


async def run_bot(url: str, conn, updates: int, profile: str | None) -> tuple[float, float, int]:
    """The server as `tondonate serve` runs it; the clock runs from "go" to the last update handled."""
    from aiohttp import web

    from tondonate.config import Config
    from tondonate.server import create_app

    counter = Counter()
    event_log = logging.getLogger("aiogram.event")
    event_log.setLevel(logging.INFO)
    event_log.addHandler(counter)
    event_log.propagate = False
    config = Config().replace(
        bot={"token": TOKEN, "api_base": conn.recv()},
        webapp={"url": "https://example.org/app"},
        db={"url": url},
        settings={"rate.provider": "static", "rate.static_tons_per_star": "0.5"},  # never the internet
    )
    profiler = cProfile.Profile() if profile else None
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()  # starts polling
    try:
        # Warm-up: first calls build aiogram's pydantic schemas, open connections, ...
        counter.expected, counter.done = WARM_UPDATES, asyncio.Event()
        conn.send("warm")
        await asyncio.wait_for(counter.done.wait(), timeout=60)
        counter.expected, counter.done = WARM_UPDATES + updates, asyncio.Event()
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        conn.send("go")
        await asyncio.wait_for(counter.done.wait(), timeout=600)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        await runner.cleanup()
    return elapsed, cpu, counter.handled - WARM_UPDATES


async def check(url: str, unique: int) -> tuple[int, int]:
    from tondonate.db import open_database

    db = open_database(url)
    await db.start()
    donations = await db.fetchval("SELECT COUNT(*) FROM donations")
    tons = await db.fetchval("SELECT COALESCE(SUM(tons), 0) FROM user_totals")
    expected = await db.fetchval("SELECT COALESCE(SUM(tons_amount), 0) FROM donations")
    await db.stop()
    donations -= 1  # the warm-up payment
    assert donations == unique, f"{donations} donations for {unique} unique payments"
    assert tons == expected, "user_totals disagree with donations"
    return donations, tons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=5_000, help="successful_payment updates to deliver")
    parser.add_argument("--duplicates", type=float, default=0.2, help="share of updates that repeat a charge")
    parser.add_argument("--raw", type=int, default=2_000, help="transactions for the raw SQLite rates")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the bot side to FILE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from tondonate.db.migrate import migrate

    order = plan(args.updates, args.duplicates)
    unique = len({charge for _, charge, _ in order})
    with tempfile.TemporaryDirectory(prefix="tondonate-bench-") as tmp:
        url = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        raw_url = f"sqlite:///{os.path.join(tmp, 'raw.db')}"
        for u in (url, raw_url):
            migrate(u)
        asyncio.run(seed(url, order))
        asyncio.run(seed(raw_url, []))

        parent, child = mp.Pipe()
        emulator = mp.get_context("fork").Process(target=emulator_main, args=(child, args.updates, args.duplicates))
        emulator.start()
        try:
            elapsed, cpu, handled = asyncio.run(run_bot(url, parent, args.updates, args.profile))
            parent.send("stop")
            thanked, emulator_cpu = parent.recv()
        finally:
            emulator.join(timeout=10)
            if emulator.is_alive():
                emulator.terminate()
        donations, _ = asyncio.run(check(url, unique))
        steps_rate = asyncio.run(write_steps_rate(raw_url, args.raw))
        group_rate = asyncio.run(group_steps_rate(raw_url, args.raw * 5))
        plain_rate = asyncio.run(plain_insert_rate(os.path.join(tmp, "plain.db"), args.raw))

    bot_rate = handled / elapsed
    print(
        f"\n{args.updates} successful_payment updates ({unique} unique charges, {args.updates - unique} duplicates), "
        f"{elapsed:.2f} s; {donations} donations, {thanked} thank-you messages; "
        f"CPU per update: bot process {cpu * 1000 / args.updates:.2f} ms, emulator process {emulator_cpu * 1000 / args.updates:.2f} ms "
        f"(load average {os.getloadavg()[0]:.1f})\n"
    )
    print("| path | per second | vs write_steps |")
    print("| --- | ---: | ---: |")
    print(
        f"| updates through the real dispatcher (emulator -> aiogram -> ledger -> SQLite) | {bot_rate:,.0f} | {bot_rate / steps_rate:.2f} |"
    )
    print(
        f"| unique payments credited through the dispatcher | {unique / elapsed:,.0f} | {unique / elapsed / steps_rate:.2f} |"
    )
    print(f"| crediting batch via Database.write_steps, one payment per transaction | {steps_rate:,.0f} | 1.00 |")
    print(
        f"| the same, 200 payments per transaction (the ledger's group commit) | {group_rate:,.0f} | {group_rate / steps_rate:.2f} |"
    )
    print(f"| plain aiosqlite, one INSERT per transaction | {plain_rate:,.0f} | {plain_rate / steps_rate:.2f} |")
    verdict = "meets" if bot_rate >= TARGET else "misses"
    print(f"\nTarget >= {TARGET:,} payments/s through the dispatcher: {verdict} it ({os.cpu_count()} CPUs).")


if __name__ == "__main__":
    main()
