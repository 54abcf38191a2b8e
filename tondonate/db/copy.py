"""``tondonate db copy``: move everything from one database to another (SQLite <-> PostgreSQL).

The caller migrates the target first; its schema says what is copied: every
table except yoyo's bookkeeping, parents before children (foreign keys), in
batches of ``executemany``.  A table referencing itself (``users.referrer_id``)
is inserted with those columns empty and then updated, so row order never
trips a foreign key.  Afterwards row counts and the sums of the money columns
(stars, tons) are compared table by table.

Stop the server while copying: rows written during the copy may be missed.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from .base import Database
from .schema import CopyError, Table, check_schemas, fk_order, quote_name, read_schema

__all__ = ["CopyError", "CopyReport", "Mismatch", "copy_database", "count_rows"]

BATCH_SIZE = 1000
Progress = Callable[[str, int], AbstractContextManager[Any]]  # see copy_database
DATA_TABLES = ("users", "payments")  # a target holding any of these is not empty


@dataclasses.dataclass(frozen=True)
class Mismatch:
    table: str
    what: str  # "rows" or "sum(column)"
    source: int
    target: int

    def describe(self) -> str:
        return f"{self.table} {self.what}: source {self.source}, target {self.target}"


@dataclasses.dataclass
class CopyReport:
    tables: list[str] = dataclasses.field(default_factory=list)  # in the order they were copied
    rows: dict[str, int] = dataclasses.field(default_factory=dict)  # rows copied per table
    sums: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)  # table -> column -> source sum
    emptied: dict[str, int] = dataclasses.field(default_factory=dict)  # target rows deleted first
    mismatches: list[Mismatch] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


class _NoProgress:
    def update(self, n: int) -> None:
        pass


def _no_progress(table: str, total: int) -> AbstractContextManager[Any]:
    return contextlib.nullcontext(_NoProgress())


async def count_rows(db: Database, tables: Iterable[str]) -> dict[str, int]:
    return {t: int(await db.fetchval(f"SELECT COUNT(*) FROM {quote_name(t)}")) for t in tables}


async def _totals(db: Database, table: Table) -> tuple[int, dict[str, int]]:
    """Row count and money sums of one table, in one statement."""
    sums = "".join(f", SUM({quote_name(c)})" for c in table.summed_columns)
    row = await db.fetchrow(f"SELECT COUNT(*){sums} FROM {quote_name(table.name)}")
    assert row is not None  # an aggregate without GROUP BY always gives one row
    return int(row[0]), {c: int(row[i + 1] or 0) for i, c in enumerate(table.summed_columns)}


async def _batches(db: Database, table: Table, batch_size: int) -> AsyncIterator[list[Any]]:
    """The table's rows in batches: keyset pagination on the primary key, else LIMIT/OFFSET."""
    columns = ", ".join(quote_name(c) for c in table.columns)
    pk = table.primary_key
    if not pk:
        order = ", ".join(quote_name(c) for c in table.columns)
        offset = 0
        while True:
            rows = await db.fetch(
                f"SELECT {columns} FROM {quote_name(table.name)} ORDER BY {order} LIMIT $1 OFFSET $2",
                batch_size,
                offset,
            )
            if not rows:
                return
            yield rows
            offset += len(rows)
    order = ", ".join(quote_name(c) for c in pk)
    key_index = [table.columns.index(c) for c in pk]
    if len(pk) == 1:
        after = f"{quote_name(pk[0])} > $1"
    else:
        after = f"({order}) > ({', '.join(f'${i + 1}' for i in range(len(pk)))})"
    limit = f"${len(pk) + 1}"
    last: Sequence[Any] | None = None
    while True:
        if last is None:
            rows = await db.fetch(
                f"SELECT {columns} FROM {quote_name(table.name)} ORDER BY {order} LIMIT $1", batch_size
            )
        else:
            rows = await db.fetch(
                f"SELECT {columns} FROM {quote_name(table.name)} WHERE {after} ORDER BY {order} LIMIT {limit}",
                *last,
                batch_size,
            )
        if not rows:
            return
        yield rows
        last = [rows[-1][i] for i in key_index]
        if len(rows) < batch_size:
            return


async def copy_database(
    source: Database,
    target: Database,
    *,
    force: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy every row of ``source`` into the migrated ``target``, then verify.

    Refuses (:class:`CopyError`) when the target already holds users or
    payments, unless ``force``; whatever the target holds is deleted before the
    copy.  ``progress(table, rows)`` returns a context manager whose value has
    ``update(n)`` (``click.progressbar`` fits).
    """
    if batch_size < 1:
        raise CopyError("batch size must be at least 1")
    progress = progress or _no_progress
    target_schema = await read_schema(target)
    source_schema = await read_schema(source)
    check_schemas(source_schema, target_schema)
    order = fk_order(target_schema)
    report = CopyReport(tables=order)

    present = await count_rows(target, order)
    holding = {t: present[t] for t in DATA_TABLES if present.get(t)}
    if holding and not force:
        what = ", ".join(f"{t}: {n} rows" for t, n in holding.items())
        raise CopyError(f"the target is not empty ({what}); use --force to replace its contents")
    if any(present.values()):
        async with target.transaction() as conn:
            for name in reversed(order):
                if present[name]:
                    report.emptied[name] = await conn.execute(f"DELETE FROM {quote_name(name)}")

    for name in order:
        await _copy_table(source, target, target_schema[name], batch_size, progress, report)

    for name in order:
        table = target_schema[name]
        src_rows, src_sums = await _totals(source, table)
        dst_rows, dst_sums = await _totals(target, table)
        report.sums[name] = src_sums
        if src_rows != dst_rows:
            report.mismatches.append(Mismatch(name, "rows", src_rows, dst_rows))
        for column in table.summed_columns:
            if src_sums[column] != dst_sums[column]:
                report.mismatches.append(Mismatch(name, f"sum({column})", src_sums[column], dst_sums[column]))
    return report


async def _copy_table(
    source: Database, target: Database, table: Table, batch_size: int, progress: Progress, report: CopyReport
) -> None:
    total = int(await source.fetchval(f"SELECT COUNT(*) FROM {quote_name(table.name)}"))
    columns = table.columns
    insert = (
        f"INSERT INTO {quote_name(table.name)} ({', '.join(quote_name(c) for c in columns)}) "
        f"VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})"
    )
    booleans = [i for i, c in enumerate(columns) if c in table.boolean_columns]
    deferred = [columns.index(c) for c in table.self_references]  # inserted empty, set afterwards
    key_index = [columns.index(c) for c in table.primary_key]
    if deferred and not key_index:
        raise CopyError(f"table {table.name} references itself but has no primary key")
    updates: list[tuple[Any, ...]] = []
    copied = 0
    with progress(table.name, total) as bar:
        async for rows in _batches(source, table, batch_size):
            batch = []
            for row in rows:
                values = list(row)
                for i in booleans:
                    if values[i] is not None:
                        values[i] = bool(values[i])
                if deferred and any(values[i] is not None for i in deferred):
                    updates.append(tuple(values[i] for i in deferred) + tuple(values[i] for i in key_index))
                    for i in deferred:
                        values[i] = None
                batch.append(values)
            await target.executemany(insert, batch)
            copied += len(batch)
            bar.update(len(batch))
    if updates:
        sets = ", ".join(f"{quote_name(columns[i])} = ${n + 1}" for n, i in enumerate(deferred))
        where = " AND ".join(f"{quote_name(columns[i])} = ${len(deferred) + n + 1}" for n, i in enumerate(key_index))
        update = f"UPDATE {quote_name(table.name)} SET {sets} WHERE {where}"
        for start in range(0, len(updates), batch_size):
            await target.executemany(update, updates[start : start + batch_size])
    report.rows[table.name] = copied
