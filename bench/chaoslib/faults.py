"""Database faults during a burst of payments: PostgreSQL connections terminated, an SQLite
file held by another process's write transaction, an SQLite disk that fills up.

In each, the server must log a clear error, keep answering reads (the boards
come from its in-memory read model, the health check says what is wrong),
credit nothing by half, and credit everything once the fault is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

from tondonate.db import open_database
from tondonate.db.migrate import migrate
from tondonate.emulator import BotAPIEmulator, sign_init_data
from tondonate.ledger.check import check

from .support import TOKEN, Row, Serve, audit, credited_count, deliver, drain, plan, wait_until


class Reader:
    """Reads the board and the health check every ``interval`` s while a fault lasts; counts the answers."""

    USER = {"id": 9_000_001, "first_name": "Reader"}

    def __init__(self, serve: Serve, interval: float = 0.1) -> None:
        self.serve, self.interval = serve, interval
        self.headers = {"Authorization": "tma " + sign_init_data(TOKEN, self.USER)}
        self.answers: Counter[str] = Counter()  # "board 200", "healthz 503", "board refused" ...
        self.paused = False  # while the scenario itself restarts the server
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                for name, path in (("board", "/api/leaderboard/all-time"), ("healthz", "/healthz")):
                    if self.paused:
                        continue
                    try:
                        async with session.get(self.serve.url + path, headers=self.headers) as response:
                            await response.read()
                            self.answers[f"{name} {response.status}"] += 1
                    except (aiohttp.ClientError, TimeoutError):
                        self.answers[f"{name} refused"] += 1
                await asyncio.sleep(self.interval)

    async def visit(self) -> None:
        """The reader's first visit (it creates the user): made before the fault, as a returning user's."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.serve.url + "/api/me", headers=self.headers) as response,
        ):
            if response.status != 200:
                raise RuntimeError(f"/api/me answered {response.status}: {await response.text()}")

    def __enter__(self) -> Reader:
        self.answers.clear()
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def board_failures(self) -> int:
        return sum(n for key, n in self.answers.items() if key.startswith("board") and key != "board 200")

    def describe(self) -> str:
        return ", ".join(f"{key}: {n}" for key, n in sorted(self.answers.items()))


def _log_lines(serve: Serve, needle: str) -> int:
    return sum(1 for line in serve.log().splitlines() if needle in line)


async def pg_terminate(
    pg_url: str,
    workdir: Path,
    *,
    payments: int = 1_000,
    duplicates: float = 0.2,
    seed: int = 1,
    timeout: float = 180,
    restart: bool = True,
) -> Row:
    """Every 0.3 s, terminate the server's PostgreSQL connections; restart the server (kill -9) halfway."""
    import asyncpg

    app_name = f"chaos_term_{os.getpid()}"
    db_url = pg_url.replace("options=", f"options=-capplication_name%3D{app_name}%20", 1)
    rng = random.Random(seed)
    unique, order = plan(payments, duplicates, rng, prefix="pgterm")
    migrate(db_url)
    db = open_database(pg_url)  # the audit's own connections are not terminated
    scenario = "PostgreSQL connections terminated every 0.3 s" + (", one kill -9" if restart else "")
    row = Row(scenario, "postgresql", payments, len(order))
    terminated = 0

    async def terminator() -> None:
        nonlocal terminated
        conn = await asyncpg.connect(pg_url)
        try:
            while True:
                terminated += int(
                    await conn.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                        app_name,
                    )
                )
                await asyncio.sleep(0.3)
        finally:
            await conn.close()

    async with BotAPIEmulator(token=TOKEN) as emu:
        serve = Serve(emu, db_url, workdir, name="serve-pgterm")
        await serve.start()
        await db.start()
        try:
            reader = Reader(serve)
            await reader.visit()
            started = time.monotonic()
            deliver(emu, order, in_transactions=False)
            task = asyncio.create_task(terminator())
            with reader:
                await wait_until(lambda: _at_least(db, payments // 2), timeout)
                if restart:
                    reader.paused = True
                    await serve.kill()
                    await serve.start()
                    reader.paused = False
                await wait_until(lambda: _at_least(db, payments * 3 // 4), timeout)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

                await drain(db, [emu], payments, timeout, row)
            row.seconds = time.monotonic() - started
            errors = _log_lines(serve, "ERROR") + _log_lines(serve, "WARNING")
            row.notes.append(
                f"{terminated} connections terminated; {errors} error/warning log lines; {reader.describe()}"
            )
            if reader.answers["board 200"] == 0:
                row.failures.append("no read answered during the fault")
        finally:
            await serve.stop()
        try:
            return await audit(db, row, unique)
        finally:
            await db.stop()


async def _at_least(db, n: int) -> bool:
    return await credited_count(db) >= n


HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("CREATE TABLE IF NOT EXISTS chaos_lock (x INTEGER)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


async def sqlite_locked(
    workdir: Path,
    *,
    hold: float = 10,
    payments: int = 500,
    duplicates: float = 0.2,
    seed: int = 1,
    timeout: float = 120,
) -> Row:
    """Another process holds the SQLite file's write lock for ``hold`` s while payments arrive."""
    db_url = f"sqlite:///{workdir / 'locked.db'}"
    migrate(db_url)
    rng = random.Random(seed)
    unique, order = plan(payments, duplicates, rng, prefix="locked")
    db = open_database(db_url)
    row = Row(f"SQLite write-locked by another process for {hold:.0f} s", "sqlite", payments, len(order))
    async with BotAPIEmulator(token=TOKEN) as emu:
        serve = Serve(emu, db_url, workdir, name="serve-locked")
        await serve.start()
        await db.start()
        try:
            reader = Reader(serve)
            await reader.visit()
            holder = await asyncio.create_subprocess_exec(
                sys.executable, "-c", HOLDER, str(workdir / "locked.db"), str(hold), stdout=subprocess.PIPE
            )
            assert holder.stdout is not None
            await holder.stdout.readline()  # "locked"
            started = time.monotonic()
            deliver(emu, order, in_transactions=False)
            with reader:
                await asyncio.sleep(max(0.0, hold - 1))
                during = await credited_count(db)
                await holder.wait()
                released = time.monotonic()

                await drain(db, [emu], payments, timeout, row)
            row.seconds = time.monotonic() - started
            if during:
                row.failures.append(f"{during} credited while the file was locked: the lock did not hold")
            if reader.board_failures():
                row.failures.append(f"{reader.board_failures()} board reads failed while locked")
            row.notes.append(
                f"{during} credited while locked (busy_timeout 10 s), the rest {time.monotonic() - released:.1f} s after release; "
                f"'database is locked' in {_log_lines(serve, 'database is locked')} log lines; {reader.describe()}"
            )
        finally:
            await serve.stop()
        try:
            return await audit(db, row, unique)
        finally:
            await db.stop()


def can_mount() -> str | None:
    """Why a small filesystem cannot be mounted here (None: it can)."""
    if sys.platform != "linux":
        return "not Linux"
    if os.geteuid() != 0:
        return "not root (mount needs it)"
    return None


async def sqlite_full_disk(
    workdir: Path,
    *,
    size_mb: int = 8,
    payments: int = 500,
    duplicates: float = 0.2,
    seed: int = 1,
    timeout: float = 120,
) -> Row:
    """The SQLite file on a small tmpfs; a filler takes the free space while payments arrive, then is deleted."""
    mount = workdir / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)], check=True)
    try:
        return await _full_disk_run(
            mount, workdir, payments=payments, duplicates=duplicates, seed=seed, timeout=timeout
        )
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> int:
    """Write zeros to ``path`` until the filesystem is full (unbuffered: nothing left to flush); bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (1 << 16, 1 << 12, 1 << 6, 1):
            with contextlib.suppress(OSError):  # ENOSPC: full at this block size, try a smaller one
                while True:
                    written += os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return written


async def _full_disk_run(
    mount: Path, workdir: Path, *, payments: int, duplicates: float, seed: int, timeout: float
) -> Row:
    db_url = f"sqlite:///{mount / 'full.db'}"
    migrate(db_url)
    rng = random.Random(seed)
    unique, order = plan(payments, duplicates, rng, prefix="full")
    db = open_database(db_url)
    row = Row("SQLite disk full, then space freed", "sqlite", payments, len(order))
    filler = mount / "filler"
    async with BotAPIEmulator(token=TOKEN) as emu:
        serve = Serve(emu, db_url, workdir, name="serve-full")
        await serve.start()
        await db.start()
        try:
            await db.fetchval("SELECT count(*) FROM payments")  # the reader's connection opens before the disk fills
            reader = Reader(serve)
            await reader.visit()
            filled = await asyncio.to_thread(_fill, filler)
            started = time.monotonic()
            deliver(emu, order, in_transactions=False)
            with reader:

                async def degraded() -> bool:
                    return reader.answers["healthz 503"] > 0

                saw_degraded = await wait_until(degraded, 30)
                await asyncio.sleep(2)
                during = await credited_count(db)
                half = len(await check(db))
                filler.unlink()
                freed = time.monotonic()

                await drain(db, [emu], payments, timeout, row)
            row.seconds = time.monotonic() - started
            full_lines = _log_lines(serve, "database or disk is full")
            if not saw_degraded:
                row.failures.append("/healthz never said degraded while the disk was full")
            if full_lines == 0:
                row.failures.append("no 'database or disk is full' in the log")
            if half:
                row.failures.append(f"db check found {half} differences while the disk was full")
            if reader.board_failures():
                row.failures.append(f"{reader.board_failures()} board reads failed while the disk was full")
            row.notes.append(
                f"{filled // 1024} KiB filler; {during} credited while full, the rest {time.monotonic() - freed:.1f} s "
                f"after space was freed; 'database or disk is full' in {full_lines} log lines; {reader.describe()}"
            )
        finally:
            await serve.stop()
        try:
            return await audit(db, row, unique)
        finally:
            await db.stop()
