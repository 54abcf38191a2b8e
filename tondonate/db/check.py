"""``tondonate db check``: recompute every aggregate from the ledger and compare.

The aggregate tables (``user_totals``, ``user_week_totals``, ``referrer_totals``,
``referrer_week_totals``) are kept up to date inside the payment and refund
batches.  Here they are recomputed from their sources -- ``donations`` (a row
counts while ``refunded_at IS NULL``) and ``users`` (``referrals_count``) --
exactly as those batches build them:

* a user row exists once the user has any donation, refunded or not; a full
  refund leaves it at zero;
* ``reached_at`` is when the total last grew: the newest ``created_at`` of the
  key's donations (refunds do not move it); a referrer row is created by the
  first referral, at that user's ``created_at``.

Each comparison is ONE statement, so it sees one consistent snapshot even
while payments keep arriving.  ``fix`` rewrites all four tables from the same
recomputation in one transaction (on PostgreSQL with the tables locked against
concurrent writers, so no credit slips between the delete and the insert).
The SQL is written once for both dialects.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .base import Database

_LIVE = "CASE WHEN refunded_at IS NULL THEN {} ELSE 0 END"


def _sum_live(column: str) -> str:
    return f"CAST(COALESCE(SUM({_LIVE.format(column)}), 0) AS BIGINT)"


@dataclasses.dataclass(frozen=True)
class Aggregate:
    table: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]
    expected: str  # a SELECT of keys + columns, recomputed from donations and users


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate(
        "user_totals",
        ("tg_id",),
        ("tons", "stars", "donations", "reached_at"),
        f"SELECT tg_id, {_sum_live('tons_amount')} AS tons, {_sum_live('stars_amount')} AS stars, "
        f"{_sum_live('1')} AS donations, MAX(created_at) AS reached_at "
        "FROM donations GROUP BY tg_id",
    ),
    Aggregate(
        "user_week_totals",
        ("week_key", "tg_id"),
        ("tons", "stars", "donations", "reached_at"),
        f"SELECT week_key, tg_id, {_sum_live('tons_amount')} AS tons, {_sum_live('stars_amount')} AS stars, "
        f"{_sum_live('1')} AS donations, MAX(created_at) AS reached_at "
        "FROM donations GROUP BY week_key, tg_id",
    ),
    Aggregate(
        "referrer_totals",
        ("referrer_id",),
        ("referrals_count", "tons", "reached_at"),
        "SELECT k.referrer_id, CAST(COALESCE(r.referrals, 0) AS BIGINT) AS referrals_count, "
        "CAST(COALESCE(d.tons, 0) AS BIGINT) AS tons, "
        # the later of the first referral and the newest donation (GREATEST/max() differ by dialect)
        "CASE WHEN d.last_at IS NULL OR r.first_at >= d.last_at THEN r.first_at ELSE d.last_at END AS reached_at "
        "FROM (SELECT referrer_id FROM users WHERE referrer_id IS NOT NULL "
        "UNION SELECT referrer_id FROM donations WHERE referrer_id IS NOT NULL) k "
        "LEFT JOIN (SELECT referrer_id, COUNT(*) AS referrals, MIN(created_at) AS first_at FROM users "
        "WHERE referrer_id IS NOT NULL GROUP BY referrer_id) r ON r.referrer_id = k.referrer_id "
        f"LEFT JOIN (SELECT referrer_id, {_sum_live('tons_amount')} AS tons, MAX(created_at) AS last_at FROM donations "
        "WHERE referrer_id IS NOT NULL GROUP BY referrer_id) d ON d.referrer_id = k.referrer_id",
    ),
    Aggregate(
        "referrer_week_totals",
        ("week_key", "referrer_id"),
        ("tons", "reached_at"),
        f"SELECT week_key, referrer_id, {_sum_live('tons_amount')} AS tons, MAX(created_at) AS reached_at "
        "FROM donations WHERE referrer_id IS NOT NULL GROUP BY week_key, referrer_id",
    ),
)

# Keeps concurrent writers (a credit, a refund, a new referral) out while the
# aggregates are rewritten; readers go on.  SQLite's write transaction is
# already exclusive.
_LOCK_FOR_FIX = {
    "sqlite": None,
    "postgresql": "LOCK TABLE users, donations, user_totals, user_week_totals, referrer_totals, referrer_week_totals "
    "IN SHARE ROW EXCLUSIVE MODE",
}


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
    on = lambda alias: " AND ".join(f"{alias}.{k} = k.{k}" for k in keys)  # noqa: E731
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
            key = tuple(zip(agg.keys, (row[i] for i in range(n_keys))))
            has_stored, has_expected = row[n_keys], row[n_keys + 1]
            stored = [row[n_keys + 2 + i] if has_stored else None for i in range(n_cols)]
            expected = [row[n_keys + 2 + n_cols + i] if has_expected else None for i in range(n_cols)]
            for column, s, e in zip(agg.columns, stored, expected):
                if s != e:
                    differences.append(Difference(agg.table, key, column, s, e))
    return differences


async def fix(db: Database) -> dict[str, int]:
    """Rewrite every aggregate table from the recomputation, in one transaction; rows written per table."""
    written: dict[str, int] = {}
    async with db.transaction() as conn:
        lock = _LOCK_FOR_FIX.get(db.dialect)
        if lock:
            await conn.execute(lock)
        for agg in AGGREGATES:
            columns = ", ".join((*agg.keys, *agg.columns))
            await conn.execute(f"DELETE FROM {agg.table}")
            written[agg.table] = await conn.execute(f"INSERT INTO {agg.table} ({columns}) SELECT {columns} FROM ({agg.expected}) e")
    return written
