"""Schema migrations with yoyo, read from package data and applied under yoyo's lock.

One set of migrations serves both dialects.  yoyo's lock (a row in
``yoyo_lock``) makes concurrent starts safe: of two processes migrating a
fresh database at once, one applies the migrations and the other waits, then
finds nothing to do.

yoyo is synchronous; the CLI and ``serve`` call these functions in a thread
(``asyncio.to_thread``) so the event loop never blocks on them.  Failures are
:class:`DatabaseError`; a missing PostgreSQL driver (psycopg) is a one-line
hint to install the ``postgres`` extra.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from yoyo import exceptions as yoyo_exceptions
from yoyo import get_backend, read_migrations

from ..redact import redact_url
from . import DatabaseError, dialect_of

if TYPE_CHECKING:  # yoyo is untyped: these are Any to mypy, and say what is meant
    from yoyo.backends.base import DatabaseBackend
    from yoyo.migrations import MigrationList

INSTALL_HINT = "pip install 'tondonate[postgres]'"


def migrations_source() -> str:
    """Where the migrations are: package data in a wheel, the repo's ``migrations/`` in a checkout."""
    packaged = resources.files("tondonate") / "migrations"
    if packaged.is_dir():
        return "package:tondonate:migrations"
    checkout = Path(__file__).resolve().parents[2] / "migrations"
    if checkout.is_dir():
        return str(checkout)
    raise FileNotFoundError("tondonate's migrations are missing from this installation")


def yoyo_url(url: str) -> str:
    """yoyo needs a sync driver: psycopg 3 for PostgreSQL."""
    if dialect_of(url) == "postgresql":
        rest = url.split("://", 1)[1]
        return f"postgresql+psycopg://{rest}"
    return url


@dataclasses.dataclass(frozen=True)
class MigrationState:
    id: str
    applied: bool


_cache_lock = threading.Lock()
# (source, its .sql files' (name, mtime, size)) -> the migrations read from it
_cache: dict[tuple[str, tuple[tuple[str, int, int], ...]], MigrationList] = {}


def _migrations() -> MigrationList:
    """The parsed migrations, cached while the files are unchanged (parsing costs more than applying)."""
    source = migrations_source()
    folder = Path(source) if not source.startswith("package:") else None
    signature = (
        tuple(sorted((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in folder.iterdir() if f.suffix == ".sql"))
        if folder is not None
        else ()
    )
    key = (source, signature)
    with _cache_lock:
        migrations = _cache.get(key)
        if migrations is None:
            migrations = read_migrations(source)
            for migration in migrations:
                migration.load()  # fully parsed before threads share it
            _cache.clear()
            _cache[key] = migrations
    return migrations


@contextlib.contextmanager
def _backend(url: str) -> Iterator[DatabaseBackend]:
    """A yoyo backend for ``url``; driver and database failures become one-line DatabaseErrors."""
    backend = None
    try:
        try:
            backend = get_backend(yoyo_url(url))
        except ImportError as exc:  # a missing driver gives a hint, not a traceback
            raise DatabaseError(f"PostgreSQL support is not installed ({exc}): {INSTALL_HINT}") from None
        yield backend
    except (*yoyo_exceptions.DatabaseErrors, yoyo_exceptions.LockTimeout) as exc:
        message = str(exc).strip() or type(exc).__name__
        raise DatabaseError(f"migrations on {redact_url(url, keep_user=True)} failed: {message}") from exc
    finally:
        if backend is not None:
            _close(backend)


def status(url: str) -> list[MigrationState]:
    with _backend(url) as backend:
        migrations = _migrations()
        applied = {m.id for m in migrations if backend.is_applied(m)}
        return [MigrationState(m.id, m.id in applied) for m in migrations]


def migrate(url: str) -> list[str]:
    """Apply pending migrations; returns the ids applied.  Safe to run from several processes at once."""
    with _backend(url) as backend:
        migrations = _migrations()
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]


def _close(backend: DatabaseBackend) -> None:
    conn = getattr(backend, "_connection", None)
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()
