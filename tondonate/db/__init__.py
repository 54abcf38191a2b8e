"""Storage: one interface (:class:`Database`), a backend picked by the URL scheme."""

from __future__ import annotations

from .base import Connection, Database, DatabaseError, Step, StepsResult

__all__ = ["Connection", "Database", "DatabaseError", "Step", "StepsResult", "open_database", "dialect_of"]


def dialect_of(url: str) -> str:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return "postgresql"
    raise DatabaseError(f"unsupported db.url {url!r}: use sqlite:///path.db or postgresql://user@host/db")


def open_database(url: str) -> Database:
    """An unstarted :class:`Database` for ``url`` (``await db.start()`` or ``async with``)."""
    dialect = dialect_of(url)
    if dialect == "sqlite":
        from .sqlite import SqliteDatabase

        return SqliteDatabase(url)
    from .postgres import PostgresDatabase

    return PostgresDatabase(url)
