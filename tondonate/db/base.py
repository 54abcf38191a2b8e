"""The storage interface every backend implements.

Queries are written once, PostgreSQL style (``$1, $2`` placeholders); the
SQLite backend translates them.  Rows support ``row["column"]`` and
``row[0]`` on both backends.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from collections.abc import Hashable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple


class DatabaseError(Exception):
    """The database could not do what was asked (locked, unreachable, constraint...)."""


class Step(NamedTuple):
    """One statement of an atomic :meth:`Database.write_steps` batch.

    ``guard``: when the statement touches no row, the batch stops there; what
    ran before it is committed and the rest is skipped.  That is how a batch
    says "only if this payment was not credited yet" without a round trip.
    ``name``: how the caller asks the result about this step (:meth:`StepsResult.touched`).
    (A NamedTuple: the payment path builds several per payment.)
    """

    sql: str
    args: Sequence[Any] = ()
    guard: bool = False
    name: Hashable = None


@dataclasses.dataclass(frozen=True)
class StepsResult:
    rows: list[list[Any]]  # rows returned by each step that ran (RETURNING ...)
    counts: list[int]  # rows touched by each step that ran
    stopped_at: int | None  # index of the guard step that touched nothing, else None
    names: list[Hashable] = dataclasses.field(default_factory=list)  # the name of each step that ran

    @classmethod
    def of(cls, steps: Sequence[Step], rows: list[list[Any]], counts: list[int], stopped_at: int | None) -> StepsResult:
        return cls(rows, counts, stopped_at, [step.name for step in steps[: len(counts)]])

    @property
    def completed(self) -> bool:
        return self.stopped_at is None

    @functools.cached_property
    def _by_name(self) -> dict[Hashable, int]:
        found: dict[Hashable, int] = {}
        for index, name in enumerate(self.names):
            if name is not None:
                if name in found:
                    raise ValueError(f"two steps of one batch are named {name!r}")
                found[name] = index
        return found

    def touched(self, name: Hashable) -> int:
        """Rows touched by the step called ``name``; 0 when the batch stopped before it."""
        index = self._by_name.get(name)
        return 0 if index is None else self.counts[index]

    def returned(self, name: Hashable) -> list[Any]:
        """Rows returned (``RETURNING``) by the step called ``name``; [] when it did not run."""
        index = self._by_name.get(name)
        return [] if index is None else self.rows[index]


class Connection(abc.ABC):
    """Statements inside one transaction."""

    @abc.abstractmethod
    async def execute(self, query: str, *args: Any) -> int:
        """Run a statement; return the number of rows it touched."""

    @abc.abstractmethod
    async def fetch(self, query: str, *args: Any) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any) -> Any | None:
        rows = await self.fetch(query, *args)
        return rows[0] if rows else None

    async def fetchval(self, query: str, *args: Any) -> Any:
        row = await self.fetchrow(query, *args)
        return None if row is None else row[0]


class Database(Connection):
    """A database: reads never wait for the writer; writes are serialized."""

    dialect: str = ""
    url: str = ""

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """``async with db.transaction() as conn:`` -- commit on success, rollback on error."""

    @abc.abstractmethod
    async def executemany(self, query: str, args: Sequence[Sequence[Any]]) -> None:
        """One statement for many argument tuples, in one transaction (bulk loads)."""

    @abc.abstractmethod
    async def write_steps(self, steps: Sequence[Step]) -> StepsResult:
        """Run ``steps`` atomically in as few round trips as the backend allows.

        The hot write paths (crediting a payment) use this: on SQLite the whole
        batch is one hop to the writer thread instead of one per statement.
        """

    async def __aenter__(self) -> Database:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
