"""SQLite backend: aiosqlite, WAL, one writer connection and one reader connection.

WAL lets the reader see the last committed state while the writer works, so
reads never wait on writes.  Writes are serialized by an asyncio lock on the
single writer connection; ``busy_timeout`` covers other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from .base import Connection, Database, DatabaseError, Step, StepsResult

# Connection-start PRAGMAs, in one place.  synchronous=FULL: this is a payment
# ledger, a committed credit must survive a power cut.
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",
    # A bigger page cache (64 MiB, allocated only as used) keeps the hot parts of the
    # aggregate indexes in memory; the default 2 MiB thrashes at a million donations.
    "PRAGMA cache_size = -65536",
    "PRAGMA temp_store = MEMORY",
)

_PLACEHOLDER = re.compile(r"\$(\d+)")


@functools.lru_cache(maxsize=1024)
def translate(query: str) -> str:
    """``$1`` -> ``?1``: SQLite's numbered parameters keep PostgreSQL's numbering.
    Cached: the same few statements run on every payment."""
    return _PLACEHOLDER.sub(r"?\1", query)


def path_from_url(url: str) -> str:
    """``sqlite:///rel.db`` -> ``rel.db``; ``sqlite:////abs.db`` -> ``/abs.db``; ``sqlite:///:memory:``."""
    if not url.startswith("sqlite:///"):
        raise DatabaseError(f"not a SQLite URL (want sqlite:///path.db): {url}")
    return url[len("sqlite:///") :]


class _SqliteConnection(Connection):
    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn

    async def execute(self, query: str, *args: Any) -> int:
        try:
            cursor = await self._conn.execute(translate(query), args)
            count = cursor.rowcount
            await cursor.close()
        except sqlite3.Error as exc:
            raise DatabaseError(str(exc)) from exc
        return count

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        try:
            return list(await self._conn.execute_fetchall(translate(query), args))
        except sqlite3.Error as exc:
            raise DatabaseError(str(exc)) from exc


def _run_steps(
    conn: sqlite3.Connection, steps: Sequence[tuple[str, Sequence[Any], bool]]
) -> tuple[list[list[Any]], list[int], int | None]:
    """Runs in the writer thread: the whole batch is one hop.  Rows, counts and the stopping guard."""
    rows: list[list[Any]] = []
    counts: list[int] = []
    stopped_at = None
    conn.execute("BEGIN IMMEDIATE")
    try:
        for index, (sql, args, guard) in enumerate(steps):
            cursor = conn.execute(sql, args)
            fetched = cursor.fetchall()
            count = cursor.rowcount if cursor.rowcount >= 0 else len(fetched)
            cursor.close()
            rows.append(fetched)
            counts.append(count)
            if guard and count == 0:
                stopped_at = index
                break
        conn.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back already (disk full, I/O error): a ROLLBACK then
        # fails with "no transaction is active" and would hide the error that matters.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    return rows, counts, stopped_at


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: str):
        self.url = url
        self.path = path_from_url(url)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def _writer_conn(self) -> aiosqlite.Connection:
        """The writer connection; DatabaseError before :meth:`start` or after :meth:`stop`."""
        if self._writer is None:
            raise DatabaseError(f"the SQLite database {self.path} is not started")
        return self._writer

    @property
    def _reader_conn(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise DatabaseError(f"the SQLite database {self.path} is not started")
        return self._reader

    async def _open(self) -> aiosqlite.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        return conn

    async def start(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._open()
            # An in-memory database is private to its connection: read through the writer.
            self._reader = self._writer if self.path == ":memory:" else await self._open()
        except sqlite3.Error as exc:
            await self.stop()
            raise DatabaseError(f"cannot open SQLite database {self.path}: {exc}") from exc

    async def stop(self) -> None:
        for conn in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
            with contextlib.suppress(Exception):
                await conn.close()
        self._reader = self._writer = None

    # -- reads: the reader connection, never blocked by the writer (WAL)
    async def fetch(self, query: str, *args: Any) -> list[Any]:
        return await _SqliteConnection(self._reader_conn).fetch(query, *args)

    # -- writes
    async def execute(self, query: str, *args: Any) -> int:
        async with self.transaction() as conn:
            return await conn.execute(query, *args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._write_lock:
            conn = self._writer_conn
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise DatabaseError(str(exc)) from exc
            try:
                yield _SqliteConnection(conn)
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise
            try:
                await conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise DatabaseError(str(exc)) from exc

    async def executemany(self, query: str, args: Sequence[Sequence[Any]]) -> None:
        async with self.transaction():
            try:
                await self._writer_conn.executemany(translate(query), args)
            except sqlite3.Error as exc:
                raise DatabaseError(str(exc)) from exc

    async def write_steps(self, steps: Sequence[Step]) -> StepsResult:
        batch = [(translate(s.sql), tuple(s.args), s.guard) for s in steps]
        async with self._write_lock:
            writer = self._writer_conn
            try:
                # aiosqlite runs queued callables on its connection thread; one
                # callable for the whole transaction saves a thread hop per statement
                # (measured: about twice the payments per second).  _execute is aiosqlite's
                # own, unannotated; _run_steps says what comes back.
                rows, counts, stopped_at = await writer._execute(_run_steps, writer._conn, batch)  # type: ignore[no-untyped-call]
            except sqlite3.Error as exc:
                raise DatabaseError(str(exc)) from exc
        return StepsResult.of(steps, rows, counts, stopped_at)
