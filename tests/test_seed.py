"""``tondonate dev seed``: realistic data through the production SQL, aggregates right by construction."""

from __future__ import annotations

import re
from decimal import Decimal

from click.testing import CliRunner
from offline import write_offline_toml

from tondonate.cli import cli
from tondonate.db import open_database
from tondonate.ledger.check import check
from tondonate.seed import FIRST_ID, SeedPlan, seed
from tondonate.weeks import week_key

NOW = 1_790_000_000  # 2026-09-21


async def test_seed_writes_consistent_ledger_and_aggregates(db, settings):
    snapshot = settings()
    report = await seed(db, snapshot, Decimal("0.01"), SeedPlan(users=200, donations=1500, weeks=6), now=NOW)
    assert (report.users, report.donations) == (200, 1500)
    assert await db.fetchval("SELECT count(*) FROM users") == 200
    assert await db.fetchval("SELECT count(*) FROM payments WHERE status = 'paid'") == 1500
    assert await db.fetchval("SELECT count(*) FROM payments WHERE status <> 'paid'") == 0
    assert await db.fetchval("SELECT count(*) FROM donations") == 1500
    assert await db.fetchval("SELECT sum(stars_amount) FROM donations") == report.stars
    assert await check(db) == []  # every aggregate equals its recomputation from the donations

    donations = await db.fetch(
        "SELECT d.charge_id, d.created_at, d.week_key, u.created_at, d.referrer_id, u.referrer_id "
        "FROM donations d JOIN users u ON u.tg_id = d.tg_id ORDER BY d.charge_id"
    )
    times = [row[1] for row in donations]
    assert times == sorted(times), "written in time order: charge ids follow paid_at"
    for charge_id, paid_at, week, joined, referrer, user_referrer in donations:
        assert joined <= paid_at <= NOW, charge_id
        assert week == week_key(paid_at, snapshot.timezone)
        assert referrer == user_referrer  # the donation carries the payer's referrer, as the bot's does
    assert min(times) >= NOW - 6 * 7 * 86400
    # A skewed board: the top donor gave much more than the median one.
    totals = [row[0] for row in await db.fetch("SELECT tons FROM user_totals ORDER BY tons DESC")]
    assert totals[0] > 10 * totals[len(totals) // 2]
    assert await db.fetchval("SELECT count(*) FROM users WHERE referrer_id IS NOT NULL") > 20


async def test_seed_adds_to_what_is_there(db, settings):
    snapshot = settings()
    await seed(db, snapshot, Decimal("0.01"), SeedPlan(users=50, donations=300, weeks=2), now=NOW)
    await seed(db, snapshot, Decimal("0.01"), SeedPlan(users=50, donations=300, weeks=2), now=NOW)  # same random seed
    assert await db.fetchval("SELECT count(*) FROM users") == 100
    assert await db.fetchval("SELECT min(tg_id) FROM users") == FIRST_ID
    assert await db.fetchval("SELECT count(*) FROM donations") == 600
    assert await db.fetchval("SELECT count(DISTINCT charge_id) FROM donations") == 600
    assert await check(db) == []


def test_cli_seed_reports_and_checks(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    monkeypatch.chdir(tmp_path)
    write_offline_toml(tmp_path)
    monkeypatch.setenv("TONDONATE_DB_URL", url)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["dev", "seed", "--users", "120", "--donations", "900", "--weeks", "3"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "Added 120 users and 900 donations" in result.output
    # Not a terminal here: progress comes as lines, each bar's last one when it is complete.
    assert re.search(r"^Users +120/120 in \d+\.\d s$", result.output, re.M), result.output
    assert re.search(r"^Donations +900/900 in \d+\.\d s$", result.output, re.M), result.output
    checked = runner.invoke(cli, ["db", "check"], catch_exceptions=False)
    assert checked.exit_code == 0 and "all aggregates match" in checked.output

    import asyncio

    async def counts():
        db = open_database(url)
        await db.start()
        try:
            return await db.fetchval("SELECT count(*) FROM donations")
        finally:
            await db.stop()

    assert asyncio.run(counts()) == 900
    assert not (tmp_path / "seed.db-wal").exists() or (tmp_path / "seed.db-wal").stat().st_size == 0
