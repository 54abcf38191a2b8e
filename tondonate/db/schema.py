"""The schema as the database itself reports it: tables, columns, primary and foreign
keys (:func:`read_schema`), tables in foreign-key order, and whether two schemas
match.  ``tondonate db copy`` (:mod:`.copy`) works from this, so it follows every
migration without a list of its own.
"""

from __future__ import annotations

import dataclasses
import re

from .base import Database

_SUMMED = re.compile(r"^(stars|tons)(_amount)?$")  # money columns whose sums are verified


class CopyError(Exception):
    """The copy cannot start (or go on); the message says why and what to do."""


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
        "foreign_keys": 'SELECT m.name, f."from", f."table", f."to" FROM sqlite_master m '
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


def quote_name(name: str) -> str:
    """A quoted identifier (both dialects): ``key`` or ``value`` can never clash with a keyword."""
    return '"' + name.replace('"', '""') + '"'


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
                    s
                    for s in (
                        f"the source lacks {', '.join(lacking)} (migrate it first)" if lacking else "",
                        f"the target lacks {', '.join(surplus)}" if surplus else "",
                    )
                    if s
                )
            )
