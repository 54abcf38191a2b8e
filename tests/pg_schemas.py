"""Fresh PostgreSQL schemas for the tests, made and dropped in worker processes.

A schema migrated by the real migrations costs PostgreSQL a few tenths of a
second (yoyo's hundred-odd statements).  :class:`SchemaMaker` keeps a few being
made ahead, and drops used ones, in a small process pool: separate processes,
so yoyo's and psycopg's Python work never competes with the tests for the GIL.
"""

from __future__ import annotations

import collections
import multiprocessing
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit


def with_search_path(url: str, schema: str, *settings: str) -> str:
    """``url`` whose connections use ``schema`` (libpq ``options``, honoured by asyncpg, psycopg and yoyo).

    ``settings`` are more ``name=value`` server settings for every connection.
    """
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "options"]
    options = [v for k, v in parse_qsl(parts.query) if k == "options"]
    options += [f"-c{s}" for s in (f"search_path={schema}", *settings)]
    query.append(("options", " ".join(options)))
    # %20, not '+', between options: libpq does not read '+' as a space.
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def schema_url(server_url: str, name: str) -> str:
    # A test database needs no durability: not waiting for each commit's fsync halves the setup.
    return with_search_path(server_url, name, "synchronous_commit=off")


def new_schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


# -- run in the worker processes --------------------------------------------------------

_admin = None


def _connection(server_url: str):
    global _admin
    if _admin is None or _admin.closed:
        import psycopg

        _admin = psycopg.connect(server_url, autocommit=True)
        _admin.execute("SET lock_timeout = '10s'")  # a leaked transaction must not wedge a worker
    return _admin


def make_migrated(server_url: str) -> tuple[str, str]:
    from tondonate.db.migrate import migrate

    name = new_schema_name()
    _connection(server_url).execute(f'CREATE SCHEMA "{name}"')
    url = schema_url(server_url, name)
    migrate(url)
    return name, url


def drop(server_url: str, name: str) -> None:
    _connection(server_url).execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


# -- used by conftest -----------------------------------------------------------------


class SchemaMaker:
    """``take()`` a fresh migrated schema, ``release(name)`` it after the test."""

    AHEAD = 3

    def __init__(self, server_url: str, workers: int = 2):
        self.server_url = server_url
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self._ahead: collections.deque[Future] = collections.deque(
            self._pool.submit(make_migrated, server_url) for _ in range(self.AHEAD)
        )
        self._drops: list[Future] = []

    def take(self, timeout: float = 120.0) -> tuple[str, str]:
        """(name, url) of a fresh migrated schema; raises what making it raised."""
        future = self._ahead.popleft()
        self._ahead.append(self._pool.submit(make_migrated, self.server_url))
        return future.result(timeout)

    def release(self, name: str) -> None:
        self._drops.append(self._pool.submit(drop, self.server_url, name))

    def close(self) -> None:
        for future in self._ahead:
            if not future.cancel():
                try:
                    name, _ = future.result(120)
                except Exception:
                    continue
                self._drops.append(self._pool.submit(drop, self.server_url, name))
        for future in self._drops:
            try:
                future.result(120)
            except Exception as exc:  # leave it behind rather than fail the session
                print(f"warning: could not drop a test schema: {exc}")
        self._pool.shutdown(wait=True, cancel_futures=True)
