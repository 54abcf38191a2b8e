"""The referral rule (spec sections 6 and 11) through the real bot (/start ref_<id>) and the
Mini App (start_param), both on one running server against the Bot API emulator."""

from __future__ import annotations

import asyncio
import logging

import pytest
from ledger_support import NANO

from tondonate.i18n import t
from tondonate.users import set_blocked
from tondonate.weeks import current_week_key


async def referrer_of(db, tg_id):
    return await db.fetchval("SELECT referrer_id FROM users WHERE tg_id = $1", tg_id)


async def referrals(db, referrer_id):
    """(referrals_count, tons) of a referrer; (0, 0) when they have none."""
    row = await db.fetchrow("SELECT referrals_count, tons FROM referrer_totals WHERE referrer_id = $1", referrer_id)
    return (0, 0) if row is None else (row["referrals_count"], row["tons"])


def refusals(caplog, tg_id):
    """The reasons logged for referrals refused to ``tg_id``."""
    return [
        r.getMessage().rsplit("outcome=refused:", 1)[1]
        for r in caplog.records
        if r.getMessage().startswith(f"referral refused tg_id={tg_id} ")
    ]


async def start(app, user, text):
    """The user sends ``text`` to the bot; returns the bot's reply (sendMessage params)."""
    app.botapi.send_text(user, text)
    return await app.botapi.wait_for_call("sendMessage", lambda p: p["chat_id"] == user["id"])


async def visit(app, user, **kwargs):
    response = await app.get("/api/me", user, **kwargs)
    assert response.status == 200, await response.text()
    return await response.json()


async def donate(app, user, stars):
    response = await app.post("/api/payments/create-invoice", user, {"stars_amount": stars})
    assert response.status == 200, await response.text()
    outcome = await app.botapi.pay(user, (await response.json())["invoice_link"])
    assert outcome.ok
    await app.botapi.wait_for_call("sendMessage", lambda p: p["chat_id"] == user["id"])  # credited, thanked


@pytest.fixture
async def app(stack, caplog):
    caplog.set_level(logging.INFO, logger="tondonate")
    return stack


async def test_start_with_a_referral_attaches_a_new_user_and_offers_the_mini_app(app, caplog):
    await visit(app, app.user(1))
    newcomer = app.user(2, language_code="en")
    reply = await start(app, newcomer, "/start ref_1")
    assert reply["text"] == t("en", "start_referred")
    assert reply["reply_markup"]["inline_keyboard"] == [
        [{"text": t("en", "open_app"), "web_app": {"url": "https://example.org/app"}}]
    ]
    assert await referrer_of(app.db, 2) == 1
    assert await referrals(app.db, 1) == (1, 0)
    assert any(r.getMessage().startswith("referral attached tg_id=2 referrer_id=1") for r in caplog.records)
    me = await visit(app, newcomer)
    assert me["referrer_id"] == 1


async def test_refused_referrals_are_logged_with_the_reason(app, caplog):
    db = app.db
    await visit(app, app.user(10))
    await visit(app, app.user(11))
    await set_blocked(db, 11, True)
    await visit(app, app.user(12))  # an existing user, without a referrer

    cases = [
        (app.user(20), "/start ref_20", "self"),
        (app.user(21), "/start ref_999999", "unknown_referrer"),
        (app.user(22), "/start ref_11", "blocked_referrer"),
        (app.user(12), "/start ref_10", "existing_user"),
    ]
    for user, text, reason in cases:
        reply = await start(app, user, text)
        assert reply["text"] == t("ru", "start")  # a plain welcome, no "a friend invited you"
        assert reply["reply_markup"]["inline_keyboard"][0][0]["web_app"] == {"url": "https://example.org/app"}
        assert await referrer_of(db, user["id"]) is None
        assert refusals(caplog, user["id"]) == [reason]
    assert await referrals(db, 10) == (0, 0) and await referrals(db, 11) == (0, 0)
    # the refused newcomers are users all the same
    assert await db.fetchval("SELECT COUNT(*) FROM users WHERE tg_id IN (20, 21, 22)") == 3


async def test_an_existing_user_never_changes_referrer(app, caplog):
    db = app.db
    for tg_id in (30, 31):
        await visit(app, app.user(tg_id))
    invited = app.user(32)
    await visit(app, invited, start_param="ref_30")
    assert await referrer_of(db, 32) == 30

    await start(app, invited, "/start ref_31")
    await start(app, invited, "/start")
    await app.settle()  # the Mini App now knows the user: its shortcut path must refuse too
    await visit(app, invited, start_param="ref_31")
    response = await app.post("/api/referral/attach", invited, {"referrer_id": 31})
    assert response.status == 409 and (await response.json())["error"]["code"] == "already_registered"

    assert await referrer_of(db, 32) == 30
    assert await referrals(db, 30) == (1, 0) and await referrals(db, 31) == (0, 0)
    assert refusals(caplog, 32) == ["existing_user", "existing_user"]


async def test_bot_start_racing_the_first_mini_app_visit_makes_one_user(app):
    db = app.db
    await visit(app, app.user(40))
    for tg_id in range(41, 46):
        user = app.user(tg_id)
        app.botapi.send_text(user, "/start ref_40")  # the bot and the Mini App see the user at once
        me, reply = await asyncio.gather(
            visit(app, user, start_param="ref_40"),
            app.botapi.wait_for_call("sendMessage", lambda p, i=tg_id: p["chat_id"] == i),
        )
        assert me["tg_id"] == tg_id and reply["text"] in (t("ru", "start"), t("ru", "start_referred"))
        assert await db.fetchval("SELECT COUNT(*) FROM users WHERE tg_id = $1", tg_id) == 1
        assert await referrer_of(db, tg_id) == 40
    assert await referrals(db, 40) == (5, 0)


async def test_only_attached_referrals_count_for_the_referrer(app):
    db = app.db
    await visit(app, app.user(50))
    friend, latecomer, stranger = app.user(51), app.user(52), app.user(53)
    await start(app, friend, "/start ref_50")
    await visit(app, latecomer)
    await start(app, latecomer, "/start ref_50")  # refused: already a user
    await visit(app, stranger)

    await donate(app, friend, 10)
    await donate(app, latecomer, 20)
    await donate(app, stranger, 40)
    await donate(app, app.user(50), 80)  # the referrer's own donations are not a referral's

    assert await referrals(db, 50) == (1, 10 * NANO)
    week = await db.fetchval(
        "SELECT tons FROM referrer_week_totals WHERE week_key = $1 AND referrer_id = 50",
        current_week_key("Europe/Berlin"),
    )
    assert week == 10 * NANO
    assert await db.fetchval("SELECT COUNT(*) FROM referrer_totals") == 1
    await app.settle()
    me = await visit(app, app.user(50))
    assert (me["referrals_count"], me["referrals_tons_total"], me["referrals_tons_week"]) == (1, "10.00", "10.00")
