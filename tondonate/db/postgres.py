"""PostgreSQL backend: an asyncpg pool behind the :class:`Database` interface.

Queries are the same ``$1`` queries the SQLite backend runs; asyncpg takes
them as they are.  Reads and autocommitted writes borrow any pooled
connection; :meth:`PostgresDatabase.transaction` and
:meth:`PostgresDatabase.write_steps` hold one connection for the whole
transaction.  PostgreSQL's row locks do what SQLite's single writer does:
of two batches racing for the same guard row, the second waits for the first
to commit, re-reads the row and finds nothing to touch.

asyncpg is an optional dependency (``pip install 'tondonate[postgres]'``);
without it, opening a PostgreSQL URL is a one-line :class:`DatabaseError`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from ..redact import redact_url
from .base import Connection, Database, DatabaseError, Step, StepsResult

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy  # what the pool lends (asyncpg is untyped: Any to mypy)

try:
    import asyncpg
except ImportError as exc:  # the optional extra is not installed
    asyncpg = None
    _IMPORT_ERROR: ImportError | None = exc
    _ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError)
else:
    _IMPORT_ERROR = None
    # Everything asyncpg or the network raises for a failed statement or connection.
    # CancelledError is a BaseException and passes through untouched.
    _ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError, TimeoutError)
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*_ERRORS, ValueError)  # ValueError: a malformed DSN

INSTALL_HINT = "pip install 'tondonate[postgres]'"
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
CONNECT_TIMEOUT = 10.0

_STATUS_COUNT = re.compile(r"\s(\d+)\s*$")


def rows_touched(status: str | bytes | None) -> int:
    """Rows touched according to a command status: ``INSERT 0 3`` -> 3, ``UPDATE 1`` -> 1, ``CREATE TABLE`` -> 0."""
    if isinstance(status, bytes):
        status = status.decode("ascii", "replace")
    match = _STATUS_COUNT.search(status or "")
    return int(match.group(1)) if match else 0


def asyncpg_url(url: str) -> str:
    """``postgres://``, ``postgresql://`` and ``postgresql+driver://`` -> the ``postgresql://`` asyncpg wants."""
    scheme, sep, rest = url.partition("://")
    base = scheme.lower().split("+", 1)[0]
    if not sep or base not in ("postgresql", "postgres"):
        raise DatabaseError(f"not a PostgreSQL URL (want postgresql://user@host/db): {redact_url(url, keep_user=True)}")
    return f"postgresql://{rest}"


def _error(exc: BaseException, context: str = "") -> DatabaseError:
    message = str(exc).strip() or type(exc).__name__
    return DatabaseError(f"{context}{message}")


async def _run(conn: PoolConnectionProxy, query: str, args: Sequence[Any]) -> tuple[list[Any], int]:
    """Rows and rows touched of one statement, in one round trip.

    ``Connection._execute(..., return_status=True)`` is what asyncpg's own
    ``execute()`` calls: the statement goes through the connection's statement
    cache and both the rows (``RETURNING``) and the command status come back.
    """
    execute = getattr(conn, "_execute", None)
    if execute is not None:
        rows, status, _ = await execute(query, tuple(args), 0, None, return_status=True)
        return list(rows), rows_touched(status)
    # Fallback through the public API (one more round trip): a prepared statement knows its status.
    statement = await conn.prepare(query)
    rows = await statement.fetch(*args)
    return list(rows), rows_touched(statement.get_statusmsg())


class _PgConnection(Connection):
    def __init__(self, conn: PoolConnectionProxy) -> None:
        self._conn = conn
        self.failed: DatabaseError | None = None  # a statement failed: PostgreSQL aborted the transaction

    async def execute(self, query: str, *args: Any) -> int:
        try:
            _, count = await _run(self._conn, query, args)
        except _ERRORS as exc:
            self.failed = _error(exc)
            raise self.failed from exc
        return count

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        try:
            return list(await self._conn.fetch(query, *args))
        except _ERRORS as exc:
            self.failed = _error(exc)
            raise self.failed from exc


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, url: str, *, min_size: int = POOL_MIN_SIZE, max_size: int = POOL_MAX_SIZE):
        if asyncpg is None:
            raise DatabaseError(f"PostgreSQL support is not installed ({_IMPORT_ERROR}): {INSTALL_HINT}")
        self.url = url
        self._dsn = asyncpg_url(url)
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=self._min_size, max_size=self._max_size, timeout=CONNECT_TIMEOUT
            )
        except _CONNECT_ERRORS as exc:
            raise _error(exc, f"cannot connect to PostgreSQL {redact_url(self.url, keep_user=True)}: ") from exc

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except _ERRORS:
                pool.terminate()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnectionProxy]:
        """A pooled connection; failing to get one is a DatabaseError, errors of the body pass as they are."""
        if self._pool is None:
            raise DatabaseError("the PostgreSQL database is not started")
        try:
            conn = await self._pool.acquire()
        except _ERRORS as exc:
            raise _error(exc, "cannot get a PostgreSQL connection: ") from exc
        try:
            yield conn
        finally:
            await self._pool.release(conn)

    # -- reads and single autocommitted statements: any pooled connection
    async def fetch(self, query: str, *args: Any) -> list[Any]:
        async with self._connection() as conn:
            return await _PgConnection(conn).fetch(query, *args)

    async def execute(self, query: str, *args: Any) -> int:
        async with self._connection() as conn:
            return await _PgConnection(conn).execute(query, *args)

    # -- transactions: one connection throughout
    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._connection() as conn:
            tx = conn.transaction()
            try:
                await tx.start()
            except _ERRORS as exc:
                raise _error(exc) from exc
            wrapper = _PgConnection(conn)
            try:
                yield wrapper
            except BaseException:
                with contextlib.suppress(Exception):
                    await tx.rollback()
                raise
            if wrapper.failed is not None:
                # The body caught a statement's error and went on.  PostgreSQL has aborted the
                # transaction and would answer COMMIT with a silent ROLLBACK: say so instead.
                with contextlib.suppress(Exception):
                    await tx.rollback()
                raise DatabaseError(f"transaction rolled back: a statement in it failed ({wrapper.failed})")
            try:
                await tx.commit()
            except _ERRORS as exc:
                with contextlib.suppress(Exception):
                    await tx.rollback()
                raise _error(exc) from exc

    async def executemany(self, query: str, args: Sequence[Sequence[Any]]) -> None:
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    await conn.executemany(query, [tuple(a) for a in args])
            except _ERRORS as exc:
                raise _error(exc) from exc

    async def write_steps(self, steps: Sequence[Step]) -> StepsResult:
        rows: list[list[Any]] = []
        counts: list[int] = []
        stopped_at = None
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    for index, step in enumerate(steps):
                        fetched, count = await _run(conn, step.sql, step.args)
                        rows.append(fetched)
                        counts.append(count)
                        if step.guard and count == 0:
                            stopped_at = index  # commit what ran so far, skip the rest
                            break
            except _ERRORS as exc:
                raise _error(exc) from exc
        return StepsResult.of(steps, rows, counts, stopped_at)
