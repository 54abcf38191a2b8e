"""``tondonate db check``: recompute every aggregate from the ledger and compare.

The aggregate tables are kept up to date inside the payment and refund batches;
:data:`.totals.AGGREGATES` says how each is recomputed from its sources
(``donations`` and ``users``), exactly as those batches build it.  This module
holds the comparison and the rewrite, written once for every aggregate (it names
no table of its own).

Each comparison is ONE statement, so it sees one consistent snapshot even
while payments keep arriving.  ``fix`` rewrites all four tables from the same
recomputation in one transaction (on PostgreSQL with the tables locked against
concurrent writers, so no credit slips between the delete and the insert).
The SQL is written once for both dialects.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..db import Database
from .totals import AGGREGATES, LOCK_FOR_REWRITE, Aggregate


@dataclasses.dataclass(frozen=True)
class Difference:
    """One column of one aggregate row that differs.  ``None`` on a side: the row is missing there."""

    table: str
    key: tuple[tuple[str, Any], ...]  # (("week_key", "2024-W24"), ("tg_id", 5))
    column: str
    stored: Any
    expected: Any

    def describe(self) -> str:
        key = " ".join(f"{name}={value}" for name, value in self.key)
        stored = "(no row)" if self.stored is None else self.stored
        expected = "(no row)" if self.expected is None else self.expected
        return f"{self.table} {key} {self.column}: stored {stored}, expected {expected}"


def _compare_sql(agg: Aggregate) -> str:
    keys, cols = agg.keys, agg.columns

    def on(alias: str) -> str:
        return " AND ".join(f"{alias}.{k} = k.{k}" for k in keys)

    differs = " OR ".join(f"s.{c} <> e.{c}" for c in cols)
    return (
        f"WITH e AS ({agg.expected}) "
        f"SELECT {', '.join(f'k.{k}' for k in keys)}, "
        f"CASE WHEN s.{keys[0]} IS NULL THEN 0 ELSE 1 END AS has_stored, "
        f"CASE WHEN e.{keys[0]} IS NULL THEN 0 ELSE 1 END AS has_expected, "
        f"{', '.join(f's.{c}' for c in cols)}, {', '.join(f'e.{c}' for c in cols)} "
        f"FROM (SELECT {', '.join(keys)} FROM {agg.table} UNION SELECT {', '.join(keys)} FROM e) k "
        f"LEFT JOIN {agg.table} s ON {on('s')} "
        f"LEFT JOIN e ON {on('e')} "
        f"WHERE s.{keys[0]} IS NULL OR e.{keys[0]} IS NULL OR {differs} "
        f"ORDER BY {', '.join(f'k.{k}' for k in keys)}"
    )


async def check(db: Database) -> list[Difference]:
    """Every difference between the stored aggregates and their recomputation (empty: all match)."""
    differences: list[Difference] = []
    for agg in AGGREGATES:
        n_keys, n_cols = len(agg.keys), len(agg.columns)
        for row in await db.fetch(_compare_sql(agg)):
            key = tuple(zip(agg.keys, (row[i] for i in range(n_keys)), strict=False))
            has_stored, has_expected = row[n_keys], row[n_keys + 1]
            stored = [row[n_keys + 2 + i] if has_stored else None for i in range(n_cols)]
            expected = [row[n_keys + 2 + n_cols + i] if has_expected else None for i in range(n_cols)]
            for column, s, e in zip(agg.columns, stored, expected, strict=False):
                if s != e:
                    differences.append(Difference(agg.table, key, column, s, e))
    return differences


async def fix(db: Database) -> dict[str, int]:
    """Rewrite every aggregate table from the recomputation, in one transaction; rows written per table."""
    written: dict[str, int] = {}
    async with db.transaction() as conn:
        lock = LOCK_FOR_REWRITE.get(db.dialect)
        if lock:
            await conn.execute(lock)
        for agg in AGGREGATES:
            columns = ", ".join((*agg.keys, *agg.columns))
            await conn.execute(f"DELETE FROM {agg.table}")
            written[agg.table] = await conn.execute(
                f"INSERT INTO {agg.table} ({columns}) SELECT {columns} FROM ({agg.expected}) e"
            )
    return written
