"""What the chaos scenarios share: serve processes, fresh databases, the audit of the ledger, the table."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp

from tondonate.db import Database, open_database
from tondonate.emulator import BotAPIEmulator
from tondonate.ledger.check import check

TOKEN = "123456:CHAOS-token"
PAYERS = 50
FIRST_ID = 7_000_000


@dataclasses.dataclass(frozen=True)
class Payment:
    """One charge of the run: who paid how many Stars, and whether Telegram refunds it."""

    tg_id: int
    charge_id: str
    stars: int
    refunded: bool = False


def plan(
    payments: int, duplicates: float, rng: random.Random, prefix: str = "chaos"
) -> tuple[list[Payment], list[Payment]]:
    """The distinct payments, and the order of their deliveries: each once, a share again, shuffled."""
    unique = [
        Payment(FIRST_ID + rng.randrange(PAYERS), f"{prefix}-{n}", rng.randint(1, 2_500)) for n in range(payments)
    ]
    order = unique + rng.sample(unique, int(payments * duplicates))
    rng.shuffle(order)
    return unique, order


def payers(emu: BotAPIEmulator) -> dict[int, dict[str, Any]]:
    return {tg_id: emu.make_user(tg_id) for tg_id in range(FIRST_ID, FIRST_ID + PAYERS)}


def deliver(emu: BotAPIEmulator, order: Iterable[Payment], *, in_transactions: bool) -> None:
    users = payers(emu)
    for p in order:
        emu.deliver_successful_payment(
            users[p.tg_id], f"unknown-{p.charge_id}", p.stars, p.charge_id, record_transaction=in_transactions
        )


@dataclasses.dataclass
class Row:
    """One line of the report: a scenario on one database, and what the ledger says after it."""

    scenario: str
    dialect: str
    payments: int  # distinct charges delivered
    updates: int  # deliveries, duplicates included
    credited: int = 0  # charges in the state they must end in (paid, or refunded when refunded)
    lost: int = 0  # charges delivered but not credited (or a refund not applied)
    doubled: int = 0  # donations beyond one per charge, or a user's total above their payments
    differences: int = 0  # tondonate db check
    server_errors: int = 0  # 5xx answers to API requests made during the scenario
    seconds: float = 0.0
    notes: list[str] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)  # scenario-specific checks that failed

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.differences or self.server_errors or self.failures)


async def audit(db: Database, row: Row, expected: Iterable[Payment]) -> Row:
    """Fill ``row``'s ledger columns: compare the payments, donations and totals with what was paid."""
    expected = list(expected)
    status = {
        r["telegram_payment_charge_id"]: r["status"]
        for r in await db.fetch("SELECT telegram_payment_charge_id, status FROM payments")
    }
    want = Counter[int]()
    wrong: list[str] = []
    for p in expected:
        if status.get(p.charge_id) == ("refunded" if p.refunded else "paid"):
            row.credited += 1
        else:
            row.lost += 1
            wrong.append(f"{p.charge_id} {status.get(p.charge_id, 'missing')}{' (refunded)' if p.refunded else ''}")
        if not p.refunded:
            want[p.tg_id] += p.stars
    donations = int(await db.fetchval("SELECT count(*) FROM donations"))
    settled = sum(1 for s in status.values() if s in ("paid", "refunded"))
    totals = {r["tg_id"]: int(r["stars"]) for r in await db.fetch("SELECT tg_id, stars FROM user_totals")}
    over = [f"user {t}: {stars} Stars of {want[t]}" for t, stars in totals.items() if stars > want[t]]
    row.doubled = max(0, donations - settled) + len(over)
    if wrong or over:
        row.notes.append("e.g. " + ", ".join([*wrong[:3], *over[:3]]))
    row.differences = len(await check(db))
    return row


async def audit_url(db_url: str, row: Row, expected: Iterable[Payment]) -> Row:
    db = open_database(db_url)
    await db.start()
    try:
        return await audit(db, row, expected)
    finally:
        await db.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Serve:
    """One real ``tondonate serve`` process, its log in a file (a full pipe would stall it)."""

    def __init__(self, emu: BotAPIEmulator, db_url: str, workdir: Path, name: str = "serve", **env: str) -> None:
        self.emu, self.db_url, self.workdir = emu, db_url, workdir
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, healthy_timeout: float = 60) -> None:
        env = {
            **os.environ,
            "TONDONATE_BOT_TOKEN": TOKEN,
            "TONDONATE_BOT_API_BASE": self.emu.base_url,
            "TONDONATE_DB_URL": self.db_url,
            "TONDONATE_HTTP_PORT": str(self.port),
            **self.env,
        }
        toml = self.workdir / "tondonate.toml"  # the static rate: the chaos run never asks the internet
        if not toml.exists():
            toml.write_text('[settings.rate]\nprovider = "static"\n', encoding="utf-8")
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tondonate", "serve", cwd=self.workdir, env=env, stdout=log, stderr=log
            )
        await self.healthy(healthy_timeout)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def healthy(self, timeout: float = 60) -> None:
        """Wait until /healthz answers at all (503 degraded counts: the server is up)."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if not self.running:
                    raise RuntimeError(f"serve exited with {self.proc and self.proc.returncode}; see {self.log_path}")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status in (200, 503):
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"serve did not answer /healthz in {timeout} s; see {self.log_path}")

    async def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            await self.proc.wait()

    async def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                await self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


async def credited_count(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM payments WHERE status <> 'created'"))


async def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``await predicate()`` until true or ``timeout`` s; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return bool(await predicate())


async def drain(db: Database, emus: Iterable[BotAPIEmulator], settled: int, timeout: float, row: Row) -> bool:
    """Wait until ``settled`` charges are out of ``created`` and every emulator has had all its
    updates confirmed; a failure on ``row`` (with what is left) when ``timeout`` s pass first."""
    emus = list(emus)

    async def drained() -> bool:
        return await credited_count(db) >= settled and not any(emu.unconfirmed_updates for emu in emus)

    if await wait_until(drained, timeout):
        return True
    left = sum(len(emu.unconfirmed_updates) for emu in emus)
    row.failures.append(f"not drained in {timeout:.0f} s ({await credited_count(db)} settled, {left} unconfirmed)")
    return False


async def fresh_pg_schema(pg_url: str, name: str) -> str:
    """A new, empty schema on the PostgreSQL server; the URL that uses it."""
    import asyncpg

    schema = f"chaos_{os.getpid()}_{name}".replace("-", "_").lower()
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}"


async def drop_pg_schema(db_url: str) -> None:
    import asyncpg

    base, _, options = db_url.partition("options=-csearch_path%3D")
    conn = await asyncpg.connect(base.rstrip("?&"))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{options}" CASCADE')
    finally:
        await conn.close()


def table(rows: list[Row]) -> str:
    head = (
        "| scenario | database | payments | updates | credited | lost | doubled | db check | 5xx | time | notes |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        check_text = "clean" if r.differences == 0 else f"{r.differences} differences"
        notes = "; ".join([*r.notes, *(f"FAILED: {f}" for f in r.failures)])
        money = (
            f"{r.payments:,} | {r.updates:,} | {r.credited:,} | {r.lost} | {r.doubled} | {check_text}"
            if r.payments
            else "— | — | — | — | — | —"  # no payments in this scenario (hostile input)
        )
        lines.append(f"| {r.scenario} | {r.dialect} | {money} | {r.server_errors} | {r.seconds:.1f} s | {notes} |")
    return "\n".join(lines)
