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
import re
from typing import Any, Callable, ContextManager, Iterable, Sequence

from .base import Database

BATCH_SIZE = 1000
DATA_TABLES = ("users", "payments")  # a target holding any of these is not empty
_SUMMED = re.compile(r"^(stars|tons)(_amount)?$")  # money columns whose sums are verified


def _skipped(table: str) -> bool:
    """yoyo's own tables (the target has its own migration history) and SQLite's internals."""
    return table.startswith(("_yoyo", "yoyo_", "sqlite_"))


# Schema introspection is where the dialects truly differ.  Both queries of a
# dialect return the same shape:
#   columns:      table, column, declared type, primary key position (0: not in it), in column order
#   foreign_keys: table, column, referenced table, referenced column
_INTROSPECT = {
    "sqlite": {
        "columns": "SELECT m.name, p.name, p.type, p.pk FROM sqlite_master m JOIN pragma_table_info(m.name) p "
        "WHERE m.type = 'table' ORDER BY m.name, p.cid",
        "foreign_keys": "SELECT m.name, f.\"from\", f.\"table\", f.\"to\" FROM sqlite_master m "
        "JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
    },
    "postgresql": {
        "columns": "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
        "CASE WHEN i.indrelid IS NULL THEN 0 ELSE a.attnum END "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY(i.indkey) "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname, a.attnum",
        "foreign_keys": "SELECT c.relname, a.attname, rc.relname, ra.attname FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class rc ON rc.oid = k.confrelid "
        "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
        "JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = k.confkey[1] "
        "WHERE k.contype = 'f' AND n.nspname = current_schema()",
    },
}


class CopyError(Exception):
    """The copy cannot start (or go on); the message says why and what to do."""


@dataclasses.dataclass
class Table:
    name: str
    columns: list[str] = dataclasses.field(default_factory=list)
    types: dict[str, str] = dataclasses.field(default_factory=dict)
    primary_key: list[str] = dataclasses.field(default_factory=list)
    references: list[tuple[str, str, str | None]] = dataclasses.field(default_factory=list)  # column, table, column

    @property
    def parents(self) -> set[str]:
        return {table for _, table, _ in self.references if table != self.name}

    @property
    def self_references(self) -> list[str]:
        return [column for column, table, _ in self.references if table == self.name]

    @property
    def boolean_columns(self) -> set[str]:
        return {c for c in self.columns if "bool" in self.types[c].lower()}

    @property
    def summed_columns(self) -> list[str]:
        return [c for c in self.columns if _SUMMED.match(c)]


async def read_schema(db: Database) -> dict[str, Table]:
    """Every table of ``db`` but yoyo's, with columns, primary key and foreign keys."""
    queries = _INTROSPECT[db.dialect]
    tables: dict[str, Table] = {}
    pk_positions: dict[str, list[tuple[int, str]]] = {}
    for table, column, type_, pk in await db.fetch(queries["columns"]):
        if _skipped(table):
            continue
        entry = tables.setdefault(table, Table(table))
        entry.columns.append(column)
        entry.types[column] = type_ or ""
        if pk:
            pk_positions.setdefault(table, []).append((pk, column))
    for table, positions in pk_positions.items():
        tables[table].primary_key = [column for _, column in sorted(positions)]
    for table, column, ref_table, ref_column in await db.fetch(queries["foreign_keys"]):
        if table in tables:
            tables[table].references.append((column, ref_table, ref_column))
    return tables


def fk_order(tables: dict[str, Table]) -> list[str]:
    """Table names, every table after the tables it references (self-references aside)."""
    order: list[str] = []
    placed: set[str] = set()
    known = set(tables)
    remaining = dict(sorted(tables.items()))
    while remaining:
        ready = [name for name, t in remaining.items() if (t.parents & known) <= placed]
        if not ready:
            raise CopyError(f"foreign keys form a cycle between tables {', '.join(remaining)}")
        for name in ready:
            order.append(name)
            placed.add(name)
            del remaining[name]
    return order


def _q(name: str) -> str:
    """A quoted identifier (both dialects): ``key`` or ``value`` can never clash with a keyword."""
    return '"' + name.replace('"', '""') + '"'


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


def _no_progress(table: str, total: int) -> ContextManager[Any]:
    return contextlib.nullcontext(_NoProgress())


async def count_rows(db: Database, tables: Iterable[str]) -> dict[str, int]:
    return {t: int(await db.fetchval(f"SELECT COUNT(*) FROM {_q(t)}")) for t in tables}


async def _totals(db: Database, table: Table) -> tuple[int, dict[str, int]]:
    """Row count and money sums of one table, in one statement."""
    sums = "".join(f", SUM({_q(c)})" for c in table.summed_columns)
    row = await db.fetchrow(f"SELECT COUNT(*){sums} FROM {_q(table.name)}")
    return int(row[0]), {c: int(row[i + 1] or 0) for i, c in enumerate(table.summed_columns)}


async def _batches(db: Database, table: Table, batch_size: int):
    """The table's rows in batches: keyset pagination on the primary key, else LIMIT/OFFSET."""
    columns = ", ".join(_q(c) for c in table.columns)
    pk = table.primary_key
    if not pk:
        order = ", ".join(_q(c) for c in table.columns)
        offset = 0
        while True:
            rows = await db.fetch(f"SELECT {columns} FROM {_q(table.name)} ORDER BY {order} LIMIT $1 OFFSET $2", batch_size, offset)
            if not rows:
                return
            yield rows
            offset += len(rows)
    order = ", ".join(_q(c) for c in pk)
    key_index = [table.columns.index(c) for c in pk]
    if len(pk) == 1:
        after = f"{_q(pk[0])} > $1"
    else:
        after = f"({order}) > ({', '.join(f'${i + 1}' for i in range(len(pk)))})"
    limit = f"${len(pk) + 1}"
    last: Sequence[Any] | None = None
    while True:
        if last is None:
            rows = await db.fetch(f"SELECT {columns} FROM {_q(table.name)} ORDER BY {order} LIMIT $1", batch_size)
        else:
            rows = await db.fetch(
                f"SELECT {columns} FROM {_q(table.name)} WHERE {after} ORDER BY {order} LIMIT {limit}", *last, batch_size
            )
        if not rows:
            return
        yield rows
        last = [rows[-1][i] for i in key_index]
        if len(rows) < batch_size:
            return


def check_schemas(source: dict[str, Table], target: dict[str, Table]) -> None:
    """The source must hold every table and column of the target, and nothing the target cannot take."""
    missing = [t for t in target if t not in source]
    extra = [t for t in source if t not in target]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"the source lacks {', '.join(sorted(missing))} (migrate it first: tondonate db migrate)")
        if extra:
            parts.append(f"the target lacks {', '.join(sorted(extra))} (is the source from a newer tondonate?)")
        raise CopyError("schemas differ: " + "; ".join(parts))
    for name, table in target.items():
        lacking = [c for c in table.columns if c not in source[name].columns]
        surplus = [c for c in source[name].columns if c not in table.columns]
        if lacking or surplus:
            raise CopyError(
                f"schemas differ in table {name}: "
                + "; ".join(
                    s for s in (
                        f"the source lacks {', '.join(lacking)} (migrate it first)" if lacking else "",
                        f"the target lacks {', '.join(surplus)}" if surplus else "",
                    ) if s
                )
            )


async def copy_database(
    source: Database,
    target: Database,
    *,
    force: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str, int], ContextManager[Any]] | None = None,
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
                    report.emptied[name] = await conn.execute(f"DELETE FROM {_q(name)}")

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


async def _copy_table(source: Database, target: Database, table: Table, batch_size: int, progress, report: CopyReport) -> None:
    total = int(await source.fetchval(f"SELECT COUNT(*) FROM {_q(table.name)}"))
    columns = table.columns
    insert = (
        f"INSERT INTO {_q(table.name)} ({', '.join(_q(c) for c in columns)}) "
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
        sets = ", ".join(f"{_q(columns[i])} = ${n + 1}" for n, i in enumerate(deferred))
        where = " AND ".join(f"{_q(columns[i])} = ${len(deferred) + n + 1}" for n, i in enumerate(key_index))
        update = f"UPDATE {_q(table.name)} SET {sets} WHERE {where}"
        for start in range(0, len(updates), batch_size):
            await target.executemany(update, updates[start:start + batch_size])
    report.rows[table.name] = copied
