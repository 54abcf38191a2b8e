"""The money path end to end: Mini App invoice -> Telegram (the emulator) -> the real
aiogram dispatcher long-polling it -> ledger -> database; duplicates, refusals, refunds,
a failing database.  No Bot object is mocked: only Telegram has a stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest
from aiogram.types import LabeledPrice
from click.testing import CliRunner
from ledger_support import NANO, break_donations, count, eventually, mend_donations
from offline import OFFLINE_SETTINGS, write_offline_toml

from tondonate.cli import cli
from tondonate.db import open_database
from tondonate.i18n import t
from tondonate.ledger import CreditResult, IncomingPayment, open_ledger, statements
from tondonate.ledger.reconcile import STATE_KEY
from tondonate.server import appkeys
from tondonate.settings import build_settings, set_setting
from tondonate.users import Profile, set_blocked
from tondonate.weeks import current_week_key, week_key

WEEK = 7 * 86_400


# -- helpers -------------------------------------------------------------------------


def as_dict(row):
    return None if row is None else {key: row[key] for key in row.keys()}  # noqa: SIM118 (rows iterate their values)


async def one(db, sql, *args):
    return as_dict(await db.fetchrow(sql, *args))


async def user_total(db, tg_id):
    return await one(db, "SELECT tons, stars, donations FROM user_totals WHERE tg_id = $1", tg_id)


async def user_week(db, week, tg_id):
    return await one(
        db, "SELECT tons, stars, donations FROM user_week_totals WHERE week_key = $1 AND tg_id = $2", week, tg_id
    )


async def referrer_total(db, referrer_id):
    return await one(db, "SELECT referrals_count, tons FROM referrer_totals WHERE referrer_id = $1", referrer_id)


async def referrer_week(db, week, referrer_id):
    return await db.fetchval(
        "SELECT tons FROM referrer_week_totals WHERE week_key = $1 AND referrer_id = $2", week, referrer_id
    )


def logged(caplog, fragment):
    return [r for r in caplog.records if fragment in r.getMessage()]


async def change_settings(stack, **values):
    """``tondonate config set`` and the server's periodic refresh, without the wait."""
    for key, value in values.items():
        await set_setting(stack.db, key.replace("__", "."), value)
    await stack.app[appkeys.SETTINGS].refresh()


def timezone(stack):
    return stack.app[appkeys.SETTINGS].current.timezone


async def visit(stack, user, **kwargs):
    response = await stack.get("/api/me", user, **kwargs)
    assert response.status == 200, await response.text()
    return await response.json()


async def invoice(stack, user, stars):
    response = await stack.post("/api/payments/create-invoice", user, {"stars_amount": stars})
    assert response.status == 200, await response.text()
    return await response.json()


async def thanks(stack, tg_id):
    return await stack.botapi.wait_for_call("sendMessage", lambda p: p["chat_id"] == tg_id)


def refunded_update(user, charge_id, stars, payload):
    """A ``refunded_payment`` service message, as Telegram sends after refundStarPayment."""
    return {
        "message": {
            "message_id": 900_000 + stars,
            "date": int(time.time()),
            "from": user,
            "chat": {"id": user["id"], "type": "private", "first_name": user["first_name"]},
            "refunded_payment": {
                "currency": "XTR",
                "total_amount": stars,
                "invoice_payload": payload,
                "telegram_payment_charge_id": charge_id,
            },
        }
    }


@pytest.fixture
async def app(stack, caplog):
    """The stack once started: the bot long-polls and the start-up reconcile is done
    (so it cannot credit a test's payment before the bot sees the update)."""
    caplog.set_level(logging.INFO, logger="tondonate")
    await stack.botapi.wait_for_call("getUpdates")
    await eventually(
        lambda: stack.db.fetchval("SELECT value FROM sync_state WHERE name = $1", STATE_KEY),
        what="the start-up reconcile",
    )
    return stack


# -- the happy path ------------------------------------------------------------------


async def test_paid_invoice_is_credited_once_at_the_quoted_rate(app):
    db, tz = app.db, timezone(app)
    referrer, payer = app.user(100), app.user(200, language_code="en")
    await visit(app, referrer)
    await visit(app, payer, start_param="ref_100")
    await change_settings(app, rate__static_tons_per_star="0.5")
    quote = await invoice(app, payer, 30)
    assert quote["tons_amount"] == "15.00"
    await change_settings(app, rate__static_tons_per_star="3")  # the rate moves before the user pays

    outcome = await app.botapi.pay(payer, quote["invoice_link"])
    assert outcome.ok and outcome.charge_id
    message = await thanks(app, 200)
    assert message["text"] == t("en", "paid", tons="15.00")

    week = current_week_key(tz)
    payment = await one(
        db,
        "SELECT status, tg_id, invoice_id, stars_amount, tons_per_star, tons_amount, paid_at "
        "FROM payments WHERE telegram_payment_charge_id = $1",
        outcome.charge_id,
    )
    assert payment["status"] == "paid" and payment["paid_at"] is not None
    assert (payment["tg_id"], payment["invoice_id"], payment["stars_amount"]) == (200, quote["invoice_id"], 30)
    assert (payment["tons_per_star"], payment["tons_amount"]) == ("0.5", 15 * NANO)
    donation = await one(
        db,
        "SELECT tg_id, referrer_id, stars_amount, tons_amount, week_key, refunded_at "
        "FROM donations WHERE charge_id = $1",
        outcome.charge_id,
    )
    assert donation == {
        "tg_id": 200,
        "referrer_id": 100,
        "stars_amount": 30,
        "tons_amount": 15 * NANO,
        "week_key": week,
        "refunded_at": None,
    }
    assert await user_total(db, 200) == {"tons": 15 * NANO, "stars": 30, "donations": 1}
    assert await user_week(db, week, 200) == {"tons": 15 * NANO, "stars": 30, "donations": 1}
    assert await referrer_total(db, 100) == {"referrals_count": 1, "tons": 15 * NANO}
    assert await referrer_week(db, week, 100) == 15 * NANO

    await app.settle()
    me = await visit(app, payer)
    assert (me["tons_total"], me["tons_week"], me["rank_all_time"]) == ("15.00", "15.00", 1)
    boss = await visit(app, referrer)
    assert (boss["referrals_count"], boss["referrals_tons_total"]) == (1, "15.00")


async def test_a_late_payment_counts_in_the_week_it_was_made(app):
    db, tz = app.db, timezone(app)
    payer = app.user(300)
    await visit(app, payer)
    quote = await invoice(app, payer, 40)
    made = int(time.time()) - WEEK  # Telegram took the money last week; the update arrives now
    outcome = await app.botapi.pay(payer, quote["invoice_link"], date=made)
    await thanks(app, 300)

    last_week, this_week = week_key(made, tz), current_week_key(tz)
    assert last_week != this_week
    assert await db.fetchval("SELECT week_key FROM donations WHERE charge_id = $1", outcome.charge_id) == last_week
    assert await user_week(db, last_week, 300) == {"tons": 40 * NANO, "stars": 40, "donations": 1}
    assert await user_week(db, this_week, 300) is None
    assert await user_total(db, 300) == {"tons": 40 * NANO, "stars": 40, "donations": 1}


# -- exactly once ----------------------------------------------------------------------


async def test_each_charge_is_credited_exactly_once(app, caplog):
    db, emu = app.db, app.botapi
    payer = app.user(400)
    await visit(app, payer)
    quote = await invoice(app, payer, 25)
    outcome = await emu.pay(payer, quote["invoice_link"])
    await thanks(app, 400)
    for _ in range(2):  # delivered 3 times in all, one after the other
        emu.deliver_successful_payment(payer, quote["invoice_id"], 25, outcome.charge_id)
        seen = len(logged(caplog, "payment duplicate"))
        await eventually(
            lambda seen=seen: len(logged(caplog, "payment duplicate")) > seen, what="the duplicate to be handled"
        )

    # Two deliveries of a new charge in one getUpdates batch: aiogram handles them as concurrent tasks.
    quote2 = await invoice(app, payer, 5)
    emu.deliver_successful_payment(payer, quote2["invoice_id"], 5, "charge-twice-at-once")
    emu.deliver_successful_payment(payer, quote2["invoice_id"], 5, "charge-twice-at-once")
    await eventually(lambda: len(logged(caplog, "charge_id=charge-twice-at-once")) >= 2, what="both deliveries")

    await thanks(app, 400)  # the credited one thanks; the duplicate stays silent

    # The same invoice paid twice is two charges: two donations.
    again = await emu.pay(payer, quote["invoice_link"])
    await thanks(app, 400)
    assert again.ok and again.charge_id != outcome.charge_id

    assert await count(db, "donations", "tg_id = $1", 400) == 3
    assert await user_total(db, 400) == {"tons": 55 * NANO, "stars": 55, "donations": 3}
    assert len(logged(caplog, "payment credited")) == 3
    assert len(logged(caplog, "payment duplicate")) == 3
    assert len(emu.sent_messages(400)) == 3


async def test_two_processes_crediting_the_same_payment_credit_it_once(db_url):
    """Two Database instances (two connections, as two `serve` processes) race for each payment."""
    settings = build_settings(OFFLINE_SETTINGS, {"rate.static_tons_per_star": "2"})
    async with contextlib.AsyncExitStack() as stack:
        dbs = [await stack.enter_async_context(open_database(db_url)) for _ in range(2)]
        ledgers = [await stack.enter_async_context(open_ledger(db, lambda: settings)) for db in dbs]
        profile = Profile(500, first_name="Racer")
        payments = [IncomingPayment(f"race-{n}", 500, None, 10, "XTR", int(time.time()), profile) for n in range(25)]
        for payment in payments[:5]:  # one at a time: each ledger credits it in a transaction of its own
            results = await asyncio.gather(*(ledger.credit(payment) for ledger in ledgers))
            assert sorted(r.status for r in results) == ["credited", "duplicate"]
        # 20 at once, twice over in each ledger: each credits them in group transactions that race the other's
        results = await asyncio.gather(*(ledger.credit(p) for p in payments[5:] * 2 for ledger in ledgers))
        for payment in payments[5:]:
            statuses = sorted(r.status for r in results if r.charge_id == payment.charge_id)
            assert statuses == ["credited", "duplicate", "duplicate", "duplicate"], payment.charge_id
        db = dbs[0]
        assert await count(db, "donations") == 25
        assert await count(db, "payments", "status = 'paid'") == 25
        assert await user_total(db, 500) == {"tons": 500 * NANO, "stars": 250, "donations": 25}


async def test_refunds_racing_grouped_credits_keep_the_books_consistent(db_url):
    """Refunds of payments recorded but not yet credited race a ledger crediting them in a
    group transaction, from another connection: whoever wins, every board agrees with the donations."""
    settings = build_settings(OFFLINE_SETTINGS, {})
    async with contextlib.AsyncExitStack() as stack:
        dbs = [await stack.enter_async_context(open_database(db_url)) for _ in range(2)]
        crediting, refunding = [await stack.enter_async_context(open_ledger(db, lambda: settings)) for db in dbs]
        now = int(time.time())
        payments = [
            IncomingPayment(f"rr-{n}", 510 + n % 3, None, 10, "XTR", now, Profile(510 + n % 3)) for n in range(30)
        ]
        for p in payments:  # recorded (status created), as a failed credit leaves them
            await dbs[0].write_steps(statements.record_steps(p, "1", 10 * NANO, now))
        await asyncio.gather(
            *(crediting.credit(p) for p in payments), *(refunding.refund(p.charge_id) for p in payments[::2])
        )
        db = dbs[0]
        paid = await count(db, "payments", "status = 'paid'")
        assert paid + await count(db, "payments", "status = 'refunded'") == 30
        assert await count(db, "donations", "refunded_at IS NULL") == paid
        assert (
            await count(
                db,
                "donations d JOIN payments p ON p.telegram_payment_charge_id = d.charge_id",
                "p.status = 'refunded' AND d.refunded_at IS NULL",
            )
            == 0
        )
        live = await db.fetchval("SELECT COALESCE(SUM(tons_amount), 0) FROM donations WHERE refunded_at IS NULL")
        assert await db.fetchval("SELECT COALESCE(SUM(tons), 0) FROM user_totals") == live == paid * 10 * NANO
        assert await db.fetchval("SELECT COALESCE(SUM(donations), 0) FROM user_totals") == paid


# -- pre-checkout ---------------------------------------------------------------------


async def test_pre_checkout_refusals_are_fast_and_say_why(app):
    db, emu, bot = app.db, app.botapi, app.app[appkeys.BOT].bot
    owner, other, blocked = app.user(700, language_code="en"), app.user(701, language_code="en"), app.user(702)
    for user in (owner, other, blocked):
        await visit(app, user)
    quote = await invoice(app, owner, 50)
    blocked_quote = await invoice(app, blocked, 50)
    await set_blocked(db, 702, True)

    async def link(payload, stars):  # an invoice link the Mini App did not issue (stale or forged)
        return await bot.create_invoice_link(
            title="Donation",
            description="Donation",
            payload=payload,
            currency="XTR",
            prices=[LabeledPrice(label="Donation", amount=stars)],
        )

    cases = [
        (owner, await link(quote["invoice_id"], 49), t("en", "precheckout_mismatch")),
        (owner, await link("no-such-invoice", 50), t("en", "precheckout_unknown")),
        (other, quote["invoice_link"], t("en", "precheckout_other_user")),
        (blocked, blocked_quote["invoice_link"], t("ru", "precheckout_blocked")),
    ]
    for user, invoice_link, expected in cases:
        started = time.monotonic()
        outcome = await emu.pay(user, invoice_link, timeout=5)
        assert time.monotonic() - started < 1.0
        assert (outcome.ok, outcome.timed_out, outcome.charge_id) == (False, False, None)
        assert outcome.error_message == expected and len(expected) < 100

    # Telegram never asks about another currency for a Stars invoice, but the bot must still say no.
    started = time.monotonic()
    emu.push_update(
        {
            "pre_checkout_query": {
                "id": "q-usd",
                "from": owner,
                "currency": "USD",
                "total_amount": 50,
                "invoice_payload": quote["invoice_id"],
            }
        }
    )
    answer = await emu.wait_for_call("answerPreCheckoutQuery", lambda p: p["pre_checkout_query_id"] == "q-usd")
    assert time.monotonic() - started < 1.0
    assert (answer["ok"], answer["error_message"]) == (False, t("en", "precheckout_mismatch"))

    assert await count(db, "payments") == 0 and await count(db, "donations") == 0


async def test_unknown_payload_is_still_credited_at_the_current_rate(app, caplog):
    db = app.db
    await change_settings(app, rate__static_tons_per_star="1.5")
    stranger = app.user(800)  # paid an invoice we have no record of; never opened the Mini App
    app.botapi.deliver_successful_payment(stranger, "lost-invoice", 20, "charge-unknown-payload")
    await thanks(app, 800)
    assert await one(
        db,
        "SELECT status, tons_per_star, tons_amount FROM payments WHERE telegram_payment_charge_id = $1",
        "charge-unknown-payload",
    ) == {"status": "paid", "tons_per_star": "1.5", "tons_amount": 30 * NANO}
    assert await user_total(db, 800) == {"tons": 30 * NANO, "stars": 20, "donations": 1}
    warnings = [r for r in logged(caplog, "unknown payload") if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "charge-unknown-payload" in warnings[0].getMessage()


async def test_changed_rounding_and_decimals_apply_to_the_next_credit(app):
    db = app.db
    payer = app.user(900, language_code="en")
    await visit(app, payer)
    await change_settings(app, rate__static_tons_per_star="0.35", tons__decimals=0, tons__rounding="up")
    quote = await invoice(app, payer, 10)  # 3.5 tons
    assert quote["tons_amount"] == "4"
    await app.botapi.pay(payer, quote["invoice_link"])
    assert (await thanks(app, 900))["text"] == t("en", "paid", tons="4")

    quote = await invoice(app, payer, 10)
    await change_settings(app, tons__decimals=1, tons__rounding="down")  # changed between quote and payment
    await app.botapi.pay(payer, quote["invoice_link"])
    assert (await thanks(app, 900))["text"] == t("en", "paid", tons="3.5")
    amounts = await db.fetch("SELECT tons_amount FROM donations WHERE tg_id = $1 ORDER BY tons_amount", 900)
    assert [r[0] for r in amounts] == [3_500_000_000, 4 * NANO]


# -- refunds ----------------------------------------------------------------------------


async def test_refund_update_reverses_every_board_once(app, caplog):
    db, emu, tz = app.db, app.botapi, timezone(app)
    referrer, payer = app.user(1000), app.user(1001)
    await visit(app, referrer)
    await visit(app, payer, start_param="ref_1000")
    kept = await emu.pay(payer, (await invoice(app, payer, 7))["invoice_link"])
    await thanks(app, 1001)
    quote = await invoice(app, payer, 20)
    made = int(time.time()) - WEEK
    outcome = await emu.pay(payer, quote["invoice_link"], date=made)  # last week's donation
    await thanks(app, 1001)
    last_week, this_week = week_key(made, tz), current_week_key(tz)
    assert await user_week(db, last_week, 1001) == {"tons": 20 * NANO, "stars": 20, "donations": 1}

    await app.app[appkeys.BOT].bot.refund_star_payment(user_id=1001, telegram_payment_charge_id=outcome.charge_id)
    await eventually(lambda: logged(caplog, "payment refunded charge_id"), what="the refund")
    emu.push_update(refunded_update(payer, outcome.charge_id, 20, quote["invoice_id"]))  # delivered again
    await eventually(lambda: logged(caplog, "payment refund duplicate"), what="the repeated refund")

    assert len(logged(caplog, "payment refunded charge_id")) == 1
    assert (
        await db.fetchval("SELECT status FROM payments WHERE telegram_payment_charge_id = $1", outcome.charge_id)
        == "refunded"
    )
    assert await db.fetchval("SELECT refunded_at FROM donations WHERE charge_id = $1", outcome.charge_id) is not None
    assert await user_total(db, 1001) == {"tons": 7 * NANO, "stars": 7, "donations": 1}
    assert await user_week(db, last_week, 1001) == {"tons": 0, "stars": 0, "donations": 0}
    assert await user_week(db, this_week, 1001) == {"tons": 7 * NANO, "stars": 7, "donations": 1}
    assert await referrer_total(db, 1000) == {"referrals_count": 1, "tons": 7 * NANO}
    assert await referrer_week(db, last_week, 1000) == 0
    assert await referrer_week(db, this_week, 1000) == 7 * NANO
    assert kept.charge_id != outcome.charge_id


async def test_refund_command_refunds_through_telegram_once(app, caplog, monkeypatch, tmp_path):
    db, emu = app.db, app.botapi
    payer = app.user(1100)
    await visit(app, payer)
    outcome = await emu.pay(payer, (await invoice(app, payer, 15))["invoice_link"])
    await thanks(app, 1100)

    monkeypatch.chdir(tmp_path)  # configured by the environment, and a toml with the static rate alone
    write_offline_toml(tmp_path)
    config = app.app[appkeys.CONFIG]
    env = {
        "TONDONATE_BOT_TOKEN": config.bot.token,
        "TONDONATE_BOT_API_BASE": emu.base_url,
        "TONDONATE_DB_URL": config.db.url,
    }
    runner = CliRunner()

    def refund():
        return runner.invoke(cli, ["payments", "refund", outcome.charge_id], env=env, catch_exceptions=False)

    first = await asyncio.to_thread(refund)  # the command runs its own event loop; the emulator runs in ours
    assert first.exit_code == 0, first.output
    assert f"Refunded {outcome.charge_id}" in first.output
    call = await emu.wait_for_call("refundStarPayment")
    assert call == {"user_id": 1100, "telegram_payment_charge_id": outcome.charge_id}
    # Telegram also sends the bot a refunded_payment update: the running bot must not reverse it again.
    await eventually(lambda: logged(caplog, "payment refund duplicate"), what="the bot to see the refund update")

    second = await asyncio.to_thread(refund)
    assert second.exit_code == 0, second.output
    assert "already refunded" in second.output

    assert len(logged(caplog, "payment refunded charge_id")) == 1
    assert await user_total(db, 1100) == {"tons": 0, "stars": 0, "donations": 0}
    assert (
        await db.fetchval("SELECT status FROM payments WHERE telegram_payment_charge_id = $1", outcome.charge_id)
        == "refunded"
    )
    assert [c for c in emu.transactions if "receiver" in c] and len(emu.transactions) == 2


# -- a failing database ---------------------------------------------------------------------


async def test_payment_hit_by_a_database_failure_is_credited_by_the_retry_once(app, caplog):
    db, emu = app.db, app.botapi
    payer = app.user(1200)
    await visit(app, payer)
    quote = await invoice(app, payer, 9)
    await break_donations(db)
    outcome = await emu.pay(payer, quote["invoice_link"])
    # The crediting batch failed and rolled back; the payment was recorded on its own for a retry.
    await eventually(
        lambda: db.fetchval("SELECT status FROM payments WHERE telegram_payment_charge_id = $1", outcome.charge_id),
        what="the payment to be recorded",
    )
    assert logged(caplog, "failed (")
    assert await count(db, "donations") == 0 and await user_total(db, 1200) is None
    assert await db.fetchval("SELECT status FROM payments") == "created"

    await mend_donations(db)
    await eventually(lambda: count(db, "donations"), what="the retry to credit it")
    # Telegram redelivers the update too: nothing more happens.
    emu.deliver_successful_payment(payer, quote["invoice_id"], 9, outcome.charge_id)
    await eventually(lambda: logged(caplog, "payment duplicate"), what="the redelivery")
    assert await count(db, "donations") == 1
    assert await user_total(db, 1200) == {"tons": 9 * NANO, "stars": 9, "donations": 1}
    assert await db.fetchval("SELECT status FROM payments") == "paid"


async def test_a_payment_the_database_cannot_save_stays_unconfirmed_with_telegram(app, caplog):
    """The update is confirmed (by the next getUpdates offset) only once the payment is in
    the database: killed before that, the process loses nothing -- Telegram still has it."""
    db, emu = app.db, app.botapi
    payer = app.user(1300)
    await visit(app, payer)
    quote = await invoice(app, payer, 7)
    await break_donations(db, "payments")  # the payment cannot even be recorded
    outcome = await emu.pay(payer, quote["invoice_link"])
    await eventually(lambda: logged(caplog, "kept in memory"), what="the payment to be held in memory")
    health = await app.client.get("/healthz")
    assert health.status == 503
    body = await health.json()
    assert body["status"] == "degraded" and body["payments_waiting"] == 1
    assert body["error"]["code"] == "writes_failing" and "boom" in body["error"]["message"]

    # The bot goes on polling, and Telegram redelivering, but the payment's update is never confirmed.
    await eventually(lambda: len(logged(caplog, "will deliver it again")) >= 2, what="a redelivery")
    held = [u["message"]["successful_payment"] for u in emu.unconfirmed_updates if "message" in u]
    assert [p["telegram_payment_charge_id"] for p in held] == [outcome.charge_id]
    assert await count(db, "payments") == 0

    await mend_donations(db, "payments")
    await eventually(lambda: not emu.unconfirmed_updates, what="the update to be confirmed once saved")
    assert await count(db, "donations") == 1
    assert await user_total(db, 1300) == {"tons": 7 * NANO, "stars": 7, "donations": 1}
    assert (await app.client.get("/healthz")).status == 200


# -- amounts beyond the bounds ------------------------------------------------------------


async def test_a_payment_whose_tons_do_not_fit_is_credited_at_the_bound_with_an_error(db, caplog):
    """An invoice quoted at a rate no longer allowed (922,338 tons per Star: 10,000 Stars overflow
    64-bit nano-tons), or a payment of an unknown invoice too big for the current rate, still
    arrives: Telegram took the money.  It is recorded with its Stars and rate and credited
    at the bound of one payment, with an ERROR naming the charge -- not held in memory forever."""
    from tondonate.ledger.check import check
    from tondonate.ledger.money import MAX_PAYMENT_TONS
    from tondonate.ledger.referrals import ensure_user

    caplog.set_level(logging.INFO, logger="tondonate")
    settings = build_settings(OFFLINE_SETTINGS, {})
    now = int(time.time())
    await ensure_user(db, Profile(1400), now=now)
    await db.execute(
        "INSERT INTO invoices (id, tg_id, stars_amount, preset_id, tons_per_star, created_at) "
        "VALUES ($1, $2, $3, NULL, $4, $5)",
        "inv-huge",
        1400,
        10_000,
        "922338",
        now,
    )
    cap = MAX_PAYMENT_TONS * NANO
    async with open_ledger(db, lambda: settings) as ledger:
        quoted = IncomingPayment("ch-huge", 1400, "inv-huge", 10_000, "XTR", now, Profile(1400))
        assert await ledger.credit(quoted) == CreditResult("credited", "ch-huge", cap)
        unknown = IncomingPayment("ch-huge-2", 1400, "lost", 2_000_000_000, "XTR", now, Profile(1400))
        assert await ledger.credit(unknown) == CreditResult("credited", "ch-huge-2", cap)
        assert ledger.health() == (0, None)
    assert await one(
        db,
        "SELECT stars_amount, tons_per_star, tons_amount, status FROM payments WHERE telegram_payment_charge_id = $1",
        "ch-huge",
    ) == {"stars_amount": 10_000, "tons_per_star": "922338", "tons_amount": cap, "status": "paid"}
    assert await user_total(db, 1400) == {"tons": 2 * cap, "stars": 2_000_010_000, "donations": 2}
    errors = [r for r in logged(caplog, "do not fit") if r.levelno == logging.ERROR]
    assert sorted(r.getMessage().split("charge_id=")[1].split()[0] for r in errors) == ["ch-huge", "ch-huge-2"]
    assert await check(db) == []


async def test_a_refund_message_names_its_payer_so_the_payment_is_never_credited_after_it(app, caplog):
    """A refunded_payment without ``from`` (Telegram may leave it out): the private chat is the
    payer, the refund of a charge never seen is recorded, and the payment that follows is not
    credited.  With no payer at all the refund is refused with an ERROR and the update is
    confirmed, not redelivered forever."""
    db, emu = app.db, app.botapi
    payer = app.user(1500)
    update = refunded_update(payer, "charge-refund-first", 12, "inv-x")
    del update["message"]["from"]
    emu.push_update(update)
    await eventually(lambda: logged(caplog, "charge_id=charge-refund-first"), what="the refund")
    assert await statements.status_of(db, "charge-refund-first") == "refunded"
    emu.deliver_successful_payment(payer, "inv-x", 12, "charge-refund-first")
    await eventually(lambda: logged(caplog, "payment duplicate charge_id=charge-refund-first"), what="the payment")
    assert await user_total(db, 1500) is None

    group = refunded_update(payer, "charge-nobody", 5, "inv-y")
    del group["message"]["from"]
    group["message"]["chat"] = {"id": -100_123, "type": "supergroup", "title": "Somewhere"}
    emu.push_update(group)
    await eventually(lambda: logged(caplog, "charge-nobody"), what="the refusal")
    [error] = [r for r in logged(caplog, "charge-nobody") if r.levelno == logging.ERROR]
    assert "no payer" in error.getMessage()
    await eventually(lambda: not emu.unconfirmed_updates, what="the update to be confirmed")
    assert await statements.status_of(db, "charge-nobody") is None


async def test_a_payment_that_can_never_be_credited_is_reported_once_and_holds_back_no_other(db, caplog):
    """A credit that fails for good (here a trigger refusing its donation: a constraint that
    will never pass) is kept, retried with a capped back-off and reported with one ERROR
    naming the charge -- and the recorded payments after it are credited all the same."""
    caplog.set_level(logging.DEBUG, logger="tondonate.ledger")
    if db.dialect == "sqlite":
        await db.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON donations WHEN NEW.charge_id LIKE 'bad%' "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    else:
        await db.execute(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.charge_id LIKE 'bad%' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$"
        )
        await db.execute("CREATE TRIGGER boom BEFORE INSERT ON donations FOR EACH ROW EXECUTE FUNCTION boom()")
    settings = build_settings(OFFLINE_SETTINGS, {})
    now = int(time.time())
    bad, good = (IncomingPayment(c, 1600, None, s, "XTR", now + s, Profile(1600)) for c, s in (("bad-1", 5), ("ok", 7)))
    for p in (bad, good):  # recorded, not credited (as a crash between record and credit leaves them)
        await db.write_steps(statements.record_steps(p, "1", p.stars * NANO, p.paid_at))
    async with open_ledger(db, lambda: settings) as ledger:
        assert await ledger.credit_recorded() == 1
        assert await ledger.credit_recorded() == 0
        late = IncomingPayment("bad-2", 1600, None, 3, "XTR", now, Profile(1600))
        assert (await ledger.credit(late)).status == "deferred"
        await eventually(lambda: len(logged(caplog, "still failing charge_id=bad-2")) >= 2, what="two retries")
        assert ledger.health()[0] == 2 and "boom" in ledger.health()[1]
    assert await statements.status_of(db, "ok") == "paid"
    assert [await statements.status_of(db, c) for c in ("bad-1", "bad-2")] == ["created", "created"]  # kept
    for charge in ("bad-1", "bad-2"):
        errors = [r for r in logged(caplog, f"charge_id={charge} ") if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
    assert await user_total(db, 1600) == {"tons": 7 * NANO, "stars": 7, "donations": 1}
