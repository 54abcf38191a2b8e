"""``tondonate db check``: aggregates recomputed from donations and users, on both dialects."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from tondonate.cli import cli
from tondonate.db import open_database
from tondonate.ledger.check import AGGREGATES, Difference, check, fix

AGGREGATE_TABLES = [agg.table for agg in AGGREGATES]


async def snapshot(db) -> dict[str, list[tuple]]:
    """Every aggregate row, comparable across dialects."""
    out = {}
    for agg in AGGREGATES:
        columns = ", ".join((*agg.keys, *agg.columns))
        rows = await db.fetch(f"SELECT {columns} FROM {agg.table} ORDER BY {', '.join(agg.keys)}")
        out[agg.table] = [tuple(r) for r in rows]
    return out


async def corrupt(db) -> None:
    await db.execute("UPDATE user_totals SET tons = tons + 5 WHERE tg_id = $1", 2)
    await db.execute("DELETE FROM user_week_totals WHERE week_key = $1 AND tg_id = $2", "2024-W24", 4)
    await db.execute("UPDATE referrer_totals SET referrals_count = 7 WHERE referrer_id = $1", 1)
    await db.execute(
        "INSERT INTO referrer_week_totals (week_key, referrer_id, tons, reached_at) VALUES ($1, $2, $3, $4)",
        "2024-W30",
        3,
        9,
        1,
    )


async def test_empty_database_matches(db):
    assert await check(db) == []


async def test_the_ledger_keeps_aggregates_equal_to_the_recomputation(db, make_dataset):
    await make_dataset(db)
    assert await check(db) == []
    before = await snapshot(db)
    assert before["user_totals"]  # the dataset did write aggregates
    # Rewriting from the recomputation changes nothing, reached_at included.
    await fix(db)
    assert await snapshot(db) == before


async def test_every_corruption_is_reported_and_fixed(db, make_dataset):
    await make_dataset(db)
    before = await snapshot(db)
    await corrupt(db)
    differences = await check(db)
    stored_tons = next(r[1] for r in before["user_totals"] if r[0] == 2)
    assert Difference("user_totals", (("tg_id", 2),), "tons", stored_tons + 5, stored_tons) in differences
    assert Difference("referrer_totals", (("referrer_id", 1),), "referrals_count", 7, 2) in differences
    missing = [d for d in differences if d.table == "user_week_totals"]
    assert {d.column for d in missing} == {"tons", "stars", "donations", "reached_at"}
    assert all(d.key == (("week_key", "2024-W24"), ("tg_id", 4)) and d.stored is None for d in missing)
    extra = [d for d in differences if d.table == "referrer_week_totals"]
    assert {(d.column, d.stored, d.expected) for d in extra} == {("tons", 9, None), ("reached_at", 1, None)}
    assert len(differences) == 1 + 1 + 4 + 2

    written = await fix(db)
    assert set(written) == set(AGGREGATE_TABLES)
    assert await check(db) == []
    assert await snapshot(db) == before


async def test_refunded_donations_do_not_count(db, make_dataset):
    await make_dataset(db)
    # ch-2 (user 3, referred by 1) is refunded: user 3 is at zero, the row stays.
    row = await db.fetchrow("SELECT tons, stars, donations FROM user_totals WHERE tg_id = $1", 3)
    assert tuple(row) == (0, 0, 0)
    await db.execute("UPDATE donations SET refunded_at = NULL WHERE charge_id = $1", "ch-2")
    differences = await check(db)
    assert {(d.table, d.column) for d in differences} >= {
        ("user_totals", "tons"),
        ("user_totals", "stars"),
        ("user_totals", "donations"),
        ("referrer_totals", "tons"),
    }


def _fill(db_url, make_dataset, corrupted: bool) -> None:
    async def go():
        db = open_database(db_url)
        await db.start()
        try:
            await make_dataset(db)
            if corrupted:
                await corrupt(db)
        finally:
            await db.stop()

    asyncio.run(go())


def _cli(db_url, monkeypatch, *args):
    monkeypatch.setenv("TONDONATE_DB_URL", db_url)
    return CliRunner().invoke(cli, ["db", "check", *args], catch_exceptions=False)


def test_cli_clean_database_exits_0(db_url, make_dataset, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _fill(db_url, make_dataset, corrupted=False)
    result = _cli(db_url, monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "all aggregates match"


def test_cli_reports_differences_exits_1_and_fix_repairs(db_url, make_dataset, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _fill(db_url, make_dataset, corrupted=True)
    result = _cli(db_url, monkeypatch)
    assert result.exit_code == 1, result.output
    assert "user_totals tg_id=2 tons: stored 157000000005, expected 157000000000" in result.output
    assert "user_week_totals week_key=2024-W24 tg_id=4 tons: stored (no row), expected 25000000000" in result.output
    assert "referrer_week_totals week_key=2024-W30 referrer_id=3 tons: stored 9, expected (no row)" in result.output
    assert "8 difference(s)" in result.output and "--fix" in result.output

    fixed = _cli(db_url, monkeypatch, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "rewrote user_totals" in fixed.output and fixed.output.strip().endswith("all aggregates match")

    again = _cli(db_url, monkeypatch)
    assert again.exit_code == 0 and again.output.strip() == "all aggregates match"
