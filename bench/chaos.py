"""Chaos run: is every Stars payment credited exactly once when the server is killed?

Run by hand (not part of the tests; ``tests/test_chaos.py`` runs a short storm):

    python bench/chaos.py                  # 2,000 payments, 5 kills, SQLite and PostgreSQL
    python bench/chaos.py --quick          # 300 payments, 2 kills
    python bench/chaos.py --pg-url postgresql://postgres@127.0.0.1:5432/test --payments 5000

The **kill -9 storm**: a Bot API emulator (Telegram's stand-in, in this process)
holds N distinct ``successful_payment`` updates plus a share of duplicates, in
random order; a real ``tondonate serve`` process long-polls it and is killed
with SIGKILL at random moments while it credits them, then started again; after
the last start it drains the rest.  Two variants:

* *redelivery only*: the payments are NOT in ``getStarTransactions``, so the
  start-up reconcile cannot help -- only Telegram's redelivery of updates the bot
  had not confirmed can bring back a payment killed on its way to the database;
* *with reconcile*: the same payments are in ``getStarTransactions`` too, as on
  Telegram.

Reported per run: payments credited, lost (delivered but never credited),
doubled (credited twice: more donations than charges, or a user's total above
the sum of their payments), ``db check`` differences, kills that landed while
payments were being credited, and the time the last start took to drain.
Goal: 0 lost, 0 doubled, 0 differences, every run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tondonate.db import open_database  # noqa: E402
from tondonate.emulator import BotAPIEmulator  # noqa: E402
from tondonate.ledger.check import check  # noqa: E402

TOKEN = "123456:CHAOS-token"
PAYERS = 50
FIRST_ID = 7_000_000


@dataclasses.dataclass
class StormResult:
    dialect: str
    in_transactions: bool
    payments: int
    updates: int
    kills: int
    kills_mid_credit: int  # kills that landed with some payments credited and some not
    credited: int
    lost: int
    doubled: int
    differences: int  # db check
    drain_seconds: float

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.doubled == 0 and self.differences == 0 and self.credited == self.payments


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _serve(emu: BotAPIEmulator, db_url: str, port: int, log_path: Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "TONDONATE_BOT_TOKEN": TOKEN,
        "TONDONATE_BOT_API_BASE": emu.base_url,
        "TONDONATE_DB_URL": db_url,
        "TONDONATE_HTTP_PORT": str(port),
    }
    log = log_path.open("ab")  # a file, not a pipe: a full pipe would stall the server
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tondonate", "serve", cwd=log_path.parent, env=env, stdout=log, stderr=log
        )
    finally:
        log.close()


async def _healthy(port: int, proc: asyncio.subprocess.Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"serve exited with {proc.returncode} before it was healthy")
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status in (200, 503):  # 503: degraded, but up
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("serve did not answer /healthz in time")


def plan(payments: int, duplicates: float, rng: random.Random) -> list[tuple[int, str, int]]:
    """(payer, charge id, stars) per update: every payment once, a share of them again, shuffled."""
    unique = [(FIRST_ID + rng.randrange(PAYERS), f"chaos-{n}", rng.randint(1, 2_500)) for n in range(payments)]
    order = unique + rng.sample(unique, int(payments * duplicates))
    rng.shuffle(order)
    return order


async def kill_storm(
    db_url: str,
    workdir: Path,
    *,
    payments: int = 2_000,
    duplicates: float = 0.2,
    kills: int = 5,
    in_transactions: bool = False,
    seed: int = 1,
    drain_timeout: float = 120,
) -> StormResult:
    """One storm against a migrated (or empty) database at ``db_url``; see the module docstring."""
    rng = random.Random(seed)
    order = plan(payments, duplicates, rng)
    expected = Counter[int]()
    for tg_id, _charge, stars in {(t, c, s) for t, c, s in order}:
        expected[tg_id] += stars
    db = open_database(db_url)
    port, log_path = free_port(), workdir / "serve.log"
    mid_credit, opened = 0, False
    async with BotAPIEmulator(token=TOKEN, bot_username="chaos_bot") as emu:
        users = {tg_id: emu.make_user(tg_id) for tg_id in range(FIRST_ID, FIRST_ID + PAYERS)}
        for tg_id, charge, stars in order:
            emu.deliver_successful_payment(
                users[tg_id], f"unknown-{charge}", stars, charge, record_transaction=in_transactions
            )
        for _ in range(kills):
            proc = await _serve(emu, db_url, port, log_path)
            try:
                await _healthy(port, proc)
                if not opened:
                    await db.start()  # after serve has migrated an empty database
                    opened = True
                before = await _credited(db)
                target = before + rng.randint(1, max(1, (payments - before) // 2))
                while await _credited(db) < target and proc.returncode is None:  # noqa: ASYNC110 -- polls another process's writes
                    await asyncio.sleep(0.002)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGKILL)
                await proc.wait()
            if 0 < await _credited(db) < payments:
                mid_credit += 1
        started = time.monotonic()
        proc = await _serve(emu, db_url, port, log_path)
        try:
            await _healthy(port, proc)
            deadline = time.monotonic() + drain_timeout
            while (await _credited(db) < payments or emu.unconfirmed_updates) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            drained = time.monotonic() - started
            await asyncio.sleep(0.5)  # a straggling duplicate would show now
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    try:
        credited = await _credited(db)
        donations = await db.fetchval("SELECT count(*) FROM donations")
        totals = {row["tg_id"]: row["stars"] for row in await db.fetch("SELECT tg_id, stars FROM user_totals")}
        over = sum(1 for tg_id, stars in totals.items() if stars > expected[tg_id])
        differences = len(await check(db))
    finally:
        await db.stop()
    return StormResult(
        dialect=db.dialect,
        in_transactions=in_transactions,
        payments=payments,
        updates=len(order),
        kills=kills,
        kills_mid_credit=mid_credit,
        credited=credited,
        lost=payments - credited,
        doubled=(donations - credited) + over,
        differences=differences,
        drain_seconds=drained,
    )


async def _credited(db: Any) -> int:
    return int(await db.fetchval("SELECT count(*) FROM payments WHERE status = 'paid'"))


def _table(results: list[StormResult]) -> str:
    head = (
        "| database | payments in getStarTransactions | updates (with duplicates) | kills (mid-credit) "
        "| credited | lost | doubled | db check | drain after last start |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in results:
        lines.append(
            f"| {r.dialect} | {'yes' if r.in_transactions else 'no (redelivery only)'} | {r.updates:,} "
            f"| {r.kills} ({r.kills_mid_credit}) | {r.credited:,} / {r.payments:,} | {r.lost} | {r.doubled} "
            f"| {'clean' if r.differences == 0 else f'{r.differences} differences'} | {r.drain_seconds:.1f} s |"
        )
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> list[StormResult]:
    from tondonate.db.migrate import migrate

    results = []
    with tempfile.TemporaryDirectory(prefix="tondonate-chaos-") as tmp:
        urls = [("sqlite", None)] + ([("postgresql", args.pg_url)] if args.pg_url else [])
        for n, (dialect, pg_url) in enumerate(urls):
            for in_transactions in (False, True):
                workdir = Path(tmp) / f"{dialect}-{in_transactions}"
                workdir.mkdir()
                url = f"sqlite:///{workdir / 'chaos.db'}" if pg_url is None else await _fresh_schema(pg_url, workdir)
                migrate(url)
                started = time.monotonic()
                print(f"kill -9 storm on {dialect}, in getStarTransactions: {in_transactions} ...", flush=True)
                result = await kill_storm(
                    url,
                    workdir,
                    payments=args.payments,
                    duplicates=args.duplicates,
                    kills=args.kills,
                    in_transactions=in_transactions,
                    seed=args.seed + n,
                )
                print(f"  {'ok' if result.ok else 'FAILED'} in {time.monotonic() - started:.0f} s", flush=True)
                results.append(result)
    return results


async def _fresh_schema(pg_url: str, workdir: Path) -> str:
    """A new schema on the PostgreSQL server (the run's database is left alone otherwise)."""
    import asyncpg

    name = f"chaos_{os.getpid()}_{workdir.name.replace('-', '_').lower()}"
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE; CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=2_000, help="distinct successful payments")
    parser.add_argument("--duplicates", type=float, default=0.2, help="share of payments delivered twice")
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs before the last, draining start")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TONDONATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL server for the PostgreSQL runs (a fresh schema each); '' to skip them",
    )
    parser.add_argument("--quick", action="store_true", help="300 payments, 2 kills")
    args = parser.parse_args()
    if args.quick:
        args.payments, args.kills = 300, 2
    results = asyncio.run(_run(args))
    print()
    print(_table(results))
    sys.exit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
