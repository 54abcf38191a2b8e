"""Schema migrations with yoyo, read from package data and applied under yoyo's lock.

yoyo is synchronous; the CLI and ``serve`` call these functions in a thread
(``asyncio.to_thread``) so the event loop never blocks on them.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

from yoyo import get_backend, read_migrations

from . import dialect_of


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


def _backend(url: str):
    try:
        return get_backend(yoyo_url(url))
    except ImportError as exc:  # a missing driver gives a hint, not a traceback
        raise RuntimeError(f"{exc}; for PostgreSQL run: pip install 'tondonate[postgres]'") from exc


def status(url: str) -> list[MigrationState]:
    backend = _backend(url)
    try:
        migrations = read_migrations(migrations_source())
        applied = {m.id for m in migrations if backend.is_applied(m)}
        return [MigrationState(m.id, m.id in applied) for m in migrations]
    finally:
        _close(backend)


def migrate(url: str) -> list[str]:
    """Apply pending migrations; returns the ids applied.  Safe to run from several processes at once."""
    backend = _backend(url)
    try:
        migrations = read_migrations(migrations_source())
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        _close(backend)


def _close(backend) -> None:
    conn = getattr(backend, "_connection", None)
    if conn is not None:
        conn.close()
