"""The bot started in the background (as ``tondonate demo`` does): HTTP answers first,
and what needs the bot waits for it, or gets a 503 that says why."""

import asyncio
import logging
import time

from tondonate.bot import handle
from tondonate.server import create_app

INVOICE = "/api/payments/create-invoice"


async def background(aiohttp_client, make_config, botapi):
    from tests.conftest import Stack

    app = create_app(make_config(), bot_in_background=True)
    return Stack(await aiohttp_client(app), botapi, app)


async def test_http_answers_before_the_bot_and_an_invoice_waits_for_it(aiohttp_client, make_config, botapi):
    gate = botapi.hold("getMe")  # Telegram is slow to answer: the bot is not up
    stack = await background(aiohttp_client, make_config, botapi)
    alice = stack.user(7001)
    me = await stack.get("/api/me", alice)
    assert me.status == 200
    assert (await me.json())["referral_link"] is None  # the bot's username is not known yet
    assert (await stack.get("/api/leaderboard/all-time", alice)).status == 200

    invoice = asyncio.create_task(stack.post(INVOICE, alice, {"preset_id": "place1"}))
    await asyncio.sleep(0.3)
    assert not invoice.done(), "the invoice cannot be made before the bot is up"
    assert not [c for c in botapi.calls if c[0] == "createInvoiceLink"]
    gate.set()
    response = await asyncio.wait_for(invoice, 10)
    assert response.status == 200, await response.text()
    assert (await response.json())["invoice_link"]
    me = await (await stack.get("/api/me", alice)).json()
    assert me["referral_link"] == "https://t.me/tondonate_test_bot?startapp=ref_7001"
    # ...and the bot polls: a /start is answered.
    botapi.send_text(botapi.make_user(7002, first_name="Bob"), "/start")
    assert (await botapi.wait_for_call("sendMessage", timeout=10))["chat_id"] == 7002


async def test_an_invoice_gets_503_while_the_bot_is_still_starting(aiohttp_client, make_config, botapi, monkeypatch):
    monkeypatch.setattr(handle, "BOT_WAIT_SECONDS", 0.2)
    botapi.hold("getMe")  # never answered
    stack = await background(aiohttp_client, make_config, botapi)
    response = await stack.post(INVOICE, stack.user(7003), {"preset_id": "place1"})
    assert response.status == 503 and response.headers["Retry-After"] == "2"
    assert (await response.json())["error"]["code"] == "bot_starting"
    assert (await stack.get("/healthz")).status == 200
    started = time.monotonic()
    await stack.client.close()  # stopping cancels the pending start
    assert time.monotonic() - started < 5


async def test_a_bot_that_cannot_start_gives_503_and_a_log_line(aiohttp_client, make_config, botapi, caplog):
    botapi.fail_next("getMe", 401)
    with caplog.at_level(logging.ERROR, logger="tondonate.server.botlife"):
        stack = await background(aiohttp_client, make_config, botapi)
        response = await stack.post(INVOICE, stack.user(7004), {"stars_amount": 10})
    assert response.status == 503 and response.headers["Retry-After"] == "30"
    body = await response.json()
    assert body["error"]["code"] == "bot_unavailable" and "401" in body["error"]["message"]
    assert any("check TONDONATE_BOT_TOKEN" in r.getMessage() for r in caplog.records)
    assert (await stack.get("/api/me", stack.user(7004))).status == 200  # the rest keeps serving


async def test_the_server_records_its_bot_id_and_names_another_bot(aiohttp_client, make_config, botapi, db_url, caplog):
    """The database remembers the bot whose token first served it (``tondonate doctor``
    compares); a token of another bot is an ERROR line, not a refusal to start."""
    from tondonate.bot.seen import seen_bot_id
    from tondonate.server import appkeys

    app = create_app(make_config())
    await aiohttp_client(app)
    assert await seen_bot_id(app[appkeys.DB]) == 123456
    await app[appkeys.DB].execute("UPDATE sync_state SET value = '999' WHERE name = 'bot.id'")
    with caplog.at_level(logging.ERROR, logger="tondonate"):
        again = create_app(make_config())
        await aiohttp_client(again)
    assert await seen_bot_id(again[appkeys.DB]) == 999  # kept: the operator decides
    assert any("used by bot id 999" in r.getMessage() for r in caplog.records)
