"""Reconciliation with Telegram's record of Stars (getStarTransactions on the emulator):
lost updates, lost refunds, credits a failing database left behind, a reconcile racing
the running bot; the ``tondonate payments reconcile`` command."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from click.testing import CliRunner
from ledger_support import NANO, break_donations, count, eventually, mend_donations
from offline import OFFLINE_SETTINGS, write_offline_toml

from tondonate.bot.client import build_bot
from tondonate.bot.stars import TelegramStars
from tondonate.cli import cli
from tondonate.db import open_database
from tondonate.ledger import IncomingPayment, Ledger, open_ledger
from tondonate.ledger.reconcile import STATE_KEY, reconcile
from tondonate.ledger.referrals import ensure_user
from tondonate.settings import build_settings
from tondonate.users import Profile
from tondonate.weeks import week_key

TZ = "Europe/Berlin"


async def user_total(db, tg_id):
    row = await db.fetchrow("SELECT tons, stars, donations FROM user_totals WHERE tg_id = $1", tg_id)
    return None if row is None else (row["tons"], row["stars"], row["donations"])


async def status(db, charge_id):
    return await db.fetchval("SELECT status FROM payments WHERE telegram_payment_charge_id = $1", charge_id)


@pytest.fixture
async def parts(db, botapi, make_config, caplog):
    """What `tondonate payments reconcile` runs on: a ledger and a bot (nobody polls updates)."""
    caplog.set_level(logging.INFO, logger="tondonate")
    settings = build_settings(OFFLINE_SETTINGS, {"rate.static_tons_per_star": "0.5"})
    bot = build_bot(make_config())
    async with open_ledger(db, lambda: settings) as ledger:
        yield ledger, bot
    await bot.session.close()


async def new_invoice(ledger, bot, user, stars):
    """A Mini App user and an invoice issued to them (the quoted rate is stored with it)."""
    await ensure_user(ledger.db, Profile.from_telegram(user))
    quote = await ledger.invoices.create(user["id"], stars)
    return quote.invoice_id


async def test_lost_payment_is_credited_once_and_only_once(parts, botapi):
    ledger, bot = parts
    db = ledger.db
    user = botapi.make_user(10)
    invoice_id = await new_invoice(ledger, bot, user, 40)
    made = int(time.time()) - 7 * 86_400  # Telegram has it from last week; the update never came
    charge = botapi.record_transaction(user, 40, invoice_id, date=made)
    botapi.record_transaction(botapi.make_user(11), 5, "someone-else's")  # unknown payload: current rate

    first = await reconcile(ledger, TelegramStars(bot))
    assert first.scanned == 2 and sorted(first.credited) == sorted([charge, botapi.transactions[1]["id"]])
    assert await status(db, charge) == "paid"
    donation = await db.fetchrow("SELECT tons_amount, week_key FROM donations WHERE charge_id = $1", charge)
    assert (donation["tons_amount"], donation["week_key"]) == (20 * NANO, week_key(made, TZ))
    assert await user_total(db, 10) == (20 * NANO, 40, 1)

    for full in (False, True):  # again: nothing to fix, whether it rereads from the start or not
        again = await reconcile(ledger, TelegramStars(bot), full=full)
        assert (again.credited, again.refunded, again.recorded_credited) == ([], [], 0)
    assert await count(db, "donations") == 2
    assert await user_total(db, 10) == (20 * NANO, 40, 1)


async def test_lost_refund_is_applied_once(parts, botapi):
    ledger, bot = parts
    db = ledger.db
    user = botapi.make_user(20)
    invoice_id = await new_invoice(ledger, bot, user, 30)
    charge = botapi.record_transaction(user, 30, invoice_id)
    assert (await reconcile(ledger, TelegramStars(bot))).credited == [charge]
    await bot.refund_star_payment(user_id=20, telegram_payment_charge_id=charge)  # its update is never read

    report = await reconcile(ledger, TelegramStars(bot))
    assert (report.credited, report.refunded) == ([], [charge])
    assert await status(db, charge) == "refunded"
    assert await user_total(db, 20) == (0, 0, 0)
    assert (await reconcile(ledger, TelegramStars(bot))).refunded == []
    assert await user_total(db, 20) == (0, 0, 0)


async def test_credit_left_behind_by_a_failing_database_is_finished_by_reconcile(parts, botapi, caplog):
    ledger, bot = parts
    db = ledger.db
    user = botapi.make_user(30)
    invoice_id = await new_invoice(ledger, bot, user, 8)
    charge = botapi.record_transaction(user, 8, invoice_id)
    payment = IncomingPayment(charge, 30, invoice_id, 8, "XTR", int(time.time()), Profile.from_telegram(user))

    await break_donations(db)
    assert (await ledger.credit(payment)).status == "deferred"
    await ledger.stop()  # the server dies before its retry: only the 'created' record is left
    assert await status(db, charge) == "created" and await count(db, "donations") == 0
    await mend_donations(db)

    report = await reconcile(ledger, TelegramStars(bot))
    assert (report.recorded_credited, report.credited) == (1, [])
    assert await status(db, charge) == "paid"
    assert await user_total(db, 30) == (4 * NANO, 8, 1)
    assert (await reconcile(ledger, TelegramStars(bot))).recorded_credited == 0
    assert (await ledger.credit(payment)).status == "duplicate"  # and the late update, when it comes
    assert await user_total(db, 30) == (4 * NANO, 8, 1)


async def test_reconcile_racing_the_bot_credits_once(stack, db_url, make_config, caplog):
    """The running server's bot gets the updates while `payments reconcile` (another
    process: its own Database) reads the same payments from getStarTransactions."""
    caplog.set_level(logging.INFO, logger="tondonate")
    caplog.set_level(logging.INFO, logger="aiogram.event")
    emu = stack.botapi
    await emu.wait_for_call("getUpdates")
    user = stack.user(40)
    await stack.get("/api/me", user)
    other = open_database(db_url)
    await other.start()
    settings = build_settings(OFFLINE_SETTINGS, {})
    bot = build_bot(make_config())
    try:
        async with open_ledger(other, lambda: settings) as ledger:
            updates = []
            for n in range(5):
                updates.append(emu.deliver_successful_payment(user, f"gone-{n}", 10 + n, f"race-{n}"))
                await reconcile(ledger, TelegramStars(bot), full=True)
    finally:
        await bot.session.close()
        await other.stop()

    def handled():
        done = {r.args[0] for r in caplog.records if r.name == "aiogram.event" and "is %s" in r.msg}
        return done.issuperset(updates)

    await eventually(handled, what="the bot to handle every update")
    db = stack.db
    assert await count(db, "donations") == 5
    assert await count(db, "payments", "status = 'paid'") == 5
    assert await user_total(db, 40) == (60 * NANO, 60, 5)
    credited = [r for r in caplog.records if r.getMessage().startswith("payment credited charge_id=race-")]
    assert len(credited) == 5


async def test_reconcile_command_prints_what_it_fixed_then_nothing(
    parts, botapi, db_url, make_config, monkeypatch, tmp_path
):
    ledger, bot = parts
    user = botapi.make_user(50)
    invoice_id = await new_invoice(ledger, bot, user, 12)
    charge = botapi.record_transaction(user, 12, invoice_id)

    monkeypatch.chdir(tmp_path)  # configured by the environment, and a toml with the static rate alone
    write_offline_toml(tmp_path)
    env = {
        "TONDONATE_BOT_TOKEN": make_config().bot.token,
        "TONDONATE_BOT_API_BASE": botapi.base_url,
        "TONDONATE_DB_URL": db_url,
    }
    runner = CliRunner()

    def run():
        return runner.invoke(cli, ["payments", "reconcile"], env=env, catch_exceptions=False)

    first = await asyncio.to_thread(run)  # the command runs its own event loop; the emulator runs in ours
    assert first.exit_code == 0, first.output
    assert "Scanned 1 transaction(s)." in first.output
    assert f"credited missing payment {charge}" in first.output
    assert await status(ledger.db, charge) == "paid"
    assert await user_total(ledger.db, 50) == (6 * NANO, 12, 1)

    second = await asyncio.to_thread(run)
    assert second.exit_code == 0, second.output
    assert "Nothing to fix" in second.output and charge not in second.output
    assert await user_total(ledger.db, 50) == (6 * NANO, 12, 1)


async def test_reconcile_does_not_move_past_a_payment_it_could_not_credit(parts, botapi):
    """A payment the database refused even to record lives only in memory; the saved
    offset stays before it, so the next reconcile (after a restart) still finds it."""
    ledger, bot = parts
    db = ledger.db
    early = botapi.record_transaction(botapi.make_user(50), 3, "first")
    assert (await reconcile(ledger, TelegramStars(bot))).credited == [early]
    refused = botapi.record_transaction(botapi.make_user(51), 4, "second")
    for n in range(3):  # more history after it, so the offset would otherwise run past
        botapi.record_transaction(botapi.make_user(52 + n), 1, f"later-{n}")
    if db.dialect == "sqlite":
        await db.execute("CREATE TRIGGER nopay BEFORE INSERT ON payments BEGIN SELECT RAISE(ABORT, 'down'); END")
    else:
        await db.execute(
            "CREATE FUNCTION nopay() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'down'; END $$"
        )
        await db.execute("CREATE TRIGGER nopay BEFORE INSERT ON payments FOR EACH ROW EXECUTE FUNCTION nopay()")
    await reconcile(ledger, TelegramStars(bot))
    assert await db.fetchval("SELECT value FROM sync_state WHERE name = $1", STATE_KEY) == "1"
    # The process "dies" before its in-memory retry: only Telegram's record is left.
    await ledger.stop()
    restarted = Ledger(db, ledger.get_settings, ledger.rates)
    await db.execute("DROP TRIGGER nopay" if db.dialect == "sqlite" else "DROP TRIGGER nopay ON payments")
    assert refused in (await reconcile(restarted, TelegramStars(bot))).credited
    await restarted.stop()
    assert await count(db, "donations") == 5
