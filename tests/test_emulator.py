"""The Bot API emulator, checked against the real aiogram client and dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import LabeledPrice, Message, PreCheckoutQuery
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tondonate.emulator import BotAPIEmulator, sign_init_data

STARS = [LabeledPrice(label="Donation", amount=100)]


class _PlainHTTPSession(AiohttpSession):
    """aiogram's close() sleeps 250 ms for TLS shutdown; plain local HTTP needs none."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(emu, token=None) -> Bot:
    api = TelegramAPIServer.from_base(emu.base_url)
    return Bot(token or emu.token, session=_PlainHTTPSession(api=api))


@pytest.fixture
async def emu():
    async with BotAPIEmulator() as emulator:
        yield emulator
    await asyncio.sleep(0)  # let aiohttp finish its connection callbacks
    stray = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not stray, f"tasks leaked: {stray}"


@pytest.fixture
async def bot(emu):
    bot = make_bot(emu)
    yield bot
    await bot.session.close()


@contextlib.asynccontextmanager
async def polling(emu, dp, bot):
    """Real aiogram long polling against the emulator for the duration of the block."""
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    await emu.wait_for_call("getUpdates")  # the poller is live
    try:
        yield
    finally:
        await dp.stop_polling()
        await task


async def test_get_me_token_and_unknown_method(emu, bot):
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "tondonate_test_bot", True)

    wrong = make_bot(emu, "999:WRONG")
    with pytest.raises(TelegramUnauthorizedError):
        await wrong.get_me()
    await wrong.session.close()

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emu.base_url}/bot{emu.token}/noSuchMethod") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with http.get(f"{emu.base_url}/botBAD/getMe") as response:
            assert response.status == 401
            assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_parameters_in_every_encoding(emu):
    user = emu.make_user(7, first_name="Ann")
    url = f"{emu.base_url}/bot{emu.token}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "Open", "url": "https://example.org"}]]}
    form = aiohttp.FormData()
    form.add_field("chat_id", "7")
    form.add_field("text", "multipart")
    form.add_field("reply_markup", json.dumps(markup))
    form.add_field("document", b"bytes", filename="x.bin")  # forces multipart/form-data
    async with aiohttp.ClientSession() as http:
        for kwargs in (
            {"params": {"chat_id": "7", "text": "query"}},
            {"data": {"chat_id": "7", "text": "urlencoded"}},
            {"data": form},
            {"json": {"chat_id": 7, "text": "json", "reply_markup": markup}},
        ):
            async with http.post(url, **kwargs) as response:
                body = await response.json()
                assert body["ok"] is True, body
    texts = [m["text"] for m in emu.sent_messages(user["id"])]
    assert texts == ["query", "urlencoded", "multipart", "json"]
    assert emu.sent_messages()[2]["reply_markup"] == markup
    assert [p["chat_id"] for _, p in emu.calls] == [7, 7, 7, 7]  # coerced from strings


async def test_start_deep_link_reaches_handler_which_replies(emu, bot):
    dp = Dispatcher()

    @dp.message(CommandStart(deep_link=True))
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(f"<b>ref</b>={command.args}", parse_mode="HTML")

    user = emu.make_user(42, first_name="Ivan", username="ivan")
    async with polling(emu, dp, bot):
        emu.send_text(user, "/start ref_42")
        params = await emu.wait_for_call("sendMessage")
    assert params["chat_id"] == 42 and params["text"] == "<b>ref</b>=ref_42"
    [sent] = emu.sent_messages(42)
    assert sent["text"] == "ref=ref_42"
    assert sent["entities"] == [{"offset": 0, "length": 3, "type": "bold"}]
    assert sent["from"]["id"] == emu.bot_id and sent["chat"] == {
        "id": 42,
        "type": "private",
        "first_name": "Ivan",
        "username": "ivan",
    }


async def test_updates_are_delivered_once_and_offsets_advance(emu, bot):
    dp = Dispatcher()
    seen: list[int] = []
    done = asyncio.Event()

    @dp.message()
    async def collect(message: Message) -> None:
        seen.append(int(message.text))
        if len(seen) == 5:
            done.set()

    user = emu.make_user(1)
    async with polling(emu, dp, bot):
        ids = []
        for i in range(5):
            ids.append(emu.send_text(user, str(i)))
            await asyncio.sleep(0.01)  # spread over several getUpdates rounds
        await asyncio.wait_for(done.wait(), 3)
        # aiogram's next poll confirms everything it was given
        await emu.wait_for_call("getUpdates", lambda p: p.get("offset") == ids[-1] + 1)
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert len([name for name, _ in emu.calls if name == "getUpdates"]) > 2
    assert await bot.get_updates(offset=-1, timeout=0) == []  # nothing left unconfirmed


async def test_get_updates_offsets_long_poll_and_conflict(emu, bot):
    user = emu.make_user(5)
    ids = [emu.send_text(user, f"m{i}") for i in range(3)]
    first = await bot.get_updates(limit=2)
    assert [u.update_id for u in first] == ids[:2]
    assert [u.update_id for u in await bot.get_updates(offset=ids[1] + 1)] == [ids[2]]
    assert await bot.get_updates(offset=ids[2] + 1) == []
    assert await bot.get_updates() == []  # confirmed updates are gone for good

    started = time.monotonic()
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await emu.wait_for_call("getUpdates", lambda p: p.get("timeout") == 5)
    late = emu.send_text(user, "late")
    assert [u.update_id for u in await waiting] == [late]
    assert time.monotonic() - started < 1

    earlier = asyncio.create_task(bot.get_updates(offset=late + 1, timeout=5))
    await emu.wait_for_call("getUpdates", lambda p: p.get("offset") == late + 1)
    assert await bot.get_updates(offset=late + 1, timeout=0) == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await earlier


async def test_allowed_updates_filter_new_updates(emu, bot):
    user = emu.make_user(9)
    await bot.get_updates(allowed_updates=["pre_checkout_query"], timeout=0)
    emu.send_text(user, "ignored")
    assert await bot.get_updates(timeout=0) == []
    assert emu.dropped_updates[0]["message"]["text"] == "ignored"

    await bot.get_updates(allowed_updates=["message"], timeout=0)
    link = await bot.create_invoice_link("T", "D", "p", currency="XTR", prices=STARS)
    outcome = await emu.pay(user, link)  # no pre_checkout_query can reach the bot
    assert outcome.timed_out and emu.transactions == []


async def test_pay_through_dispatcher_and_reject(emu, bot):
    dp = Dispatcher()
    paid: list[Message] = []
    got_payment = asyncio.Event()

    @dp.pre_checkout_query()
    async def checkout(query: PreCheckoutQuery) -> None:
        if query.invoice_payload == "reject-me":
            await query.answer(ok=False, error_message="Donations are paused")
        else:
            await query.answer(ok=True)

    @dp.message(F.successful_payment)
    async def on_paid(message: Message) -> None:
        paid.append(message)
        got_payment.set()

    user = emu.make_user(100, first_name="Payer")
    link = await bot.create_invoice_link("Donate", "Support the project", "don:1", currency="XTR", prices=STARS)
    assert link.startswith("https://t.me/$")
    rejected = await bot.create_invoice_link("Donate", "Support", "reject-me", currency="XTR", prices=STARS)
    async with polling(emu, dp, bot):
        outcome = await emu.pay(user, link, date=1_700_000_000)
        await asyncio.wait_for(got_payment.wait(), 3)
        refused = await emu.pay(user, rejected)
    assert outcome.ok and outcome.charge_id and outcome.error_message is None
    assert (refused.ok, refused.error_message, refused.charge_id) == (False, "Donations are paused", None)
    payment = paid[0].successful_payment
    assert (payment.currency, payment.total_amount, payment.invoice_payload) == ("XTR", 100, "don:1")
    assert payment.telegram_payment_charge_id == outcome.charge_id
    assert payment.provider_payment_charge_id == ""
    assert int(paid[0].date.timestamp()) == 1_700_000_000
    assert [t["id"] for t in emu.transactions] == [outcome.charge_id]


async def test_unanswered_pre_checkout_times_out(emu, bot):
    user = emu.make_user(3)
    link = await bot.create_invoice_link("T", "D", "p", currency="XTR", prices=STARS)
    outcome = await emu.pay(user, link, timeout=0.1)
    assert outcome.timed_out and not outcome.ok
    [update] = await bot.get_updates()
    query = update.pre_checkout_query
    assert (query.from_user.id, query.total_amount, query.invoice_payload) == (3, 100, "p")
    with pytest.raises(TelegramBadRequest, match="QUERY_ID_INVALID"):
        await bot.answer_pre_checkout_query(query.id, ok=True)
    assert emu.transactions == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"title": "x" * 33}, "title"),
        ({"description": "x" * 256}, "description"),
        ({"payload": "я" * 65}, "INVOICE_PAYLOAD_INVALID"),  # 65 characters, 130 bytes
        ({"currency": "USD"}, "CURRENCY_INVALID"),
        ({"provider_token": "284685063:TEST:abc"}, "STARS_INVOICE_INVALID"),
        ({"prices": [LabeledPrice(label="a", amount=50)] * 2}, "STARS_INVOICE_INVALID"),
        ({"prices": [LabeledPrice(label="a", amount=0)]}, "Total price must be positive"),
        ({"prices": [LabeledPrice(label="a", amount=1_000_000)]}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
    ],
)
async def test_invalid_invoices_raise_bad_request(bot, kwargs, error):
    args = {"title": "Donate", "description": "Support", "payload": "p", "currency": "XTR", "prices": STARS}
    with pytest.raises(TelegramBadRequest, match=error):
        await bot.create_invoice_link(**(args | kwargs))


async def test_invoice_limits_are_inclusive(emu, bot):
    link = await bot.create_invoice_link("x" * 32, "y" * 255, "я" * 64, currency="XTR", prices=STARS)
    assert emu.invoice(link)["payload"] == "я" * 64


async def test_star_transactions_paging_and_refunds(emu, bot):
    users = [emu.make_user(200 + i) for i in range(5)]
    charges = [emu.record_transaction(u, 10 * (i + 1), f"don:{i}", date=1_700_000_000 + i) for i, u in enumerate(users)]
    page = await bot.get_star_transactions(offset=1, limit=2)
    assert [t.id for t in page.transactions] == charges[1:3]
    first = page.transactions[0]
    assert (first.amount, first.source.user.id, first.source.invoice_payload) == (20, 201, "don:1")
    assert first.source.transaction_type == "invoice_payment" and first.receiver is None
    assert len((await bot.get_star_transactions()).transactions) == 5

    assert await bot.refund_star_payment(201, charges[1]) is True
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(201, charges[1])
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(201, "stxNOPE")
    with pytest.raises(TelegramBadRequest):
        await bot.refund_star_payment(999, charges[2])

    refund = (await bot.get_star_transactions(offset=5)).transactions[0]
    assert (refund.id, refund.amount, refund.source, refund.receiver.user.id) == (charges[1], 20, None, 201)
    [update] = await bot.get_updates()
    refunded = update.message.refunded_payment
    assert (refunded.total_amount, refunded.invoice_payload, refunded.telegram_payment_charge_id) == (
        20,
        "don:1",
        charges[1],
    )


async def test_duplicate_and_direct_successful_payments(emu, bot):
    user = emu.make_user(300)
    first = emu.deliver_successful_payment(user, "don:9", 50, "stxDUP")
    second = emu.deliver_successful_payment(user, "don:9", 50, "stxDUP")
    emu.deliver_successful_payment(user, "unknown", 5, "stxLOST", record_transaction=False)
    updates = await bot.get_updates()
    assert [u.update_id for u in updates][:2] == [first, second]
    assert [u.message.successful_payment.telegram_payment_charge_id for u in updates] == ["stxDUP", "stxDUP", "stxLOST"]
    assert [t["id"] for t in emu.transactions] == ["stxDUP"]


async def test_fault_injection(emu, bot):
    emu.make_user(1)
    emu.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(1, "hi")
    assert caught.value.retry_after == 3
    emu.fail_next("sendmessage", 500, times=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(1, "hi")
    assert (await bot.send_message(1, "hi")).text == "hi"
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(2, "nobody")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "<blink>x</blink>", parse_mode="HTML")


async def test_webhook_delivery_to_aiogram_with_retry_and_reply_method(emu, bot):
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message):
        return message.answer(f"echo: {message.text}")  # answered in the webhook response body

    failures = [500]

    @web.middleware
    async def flaky(request: web.Request, handler):
        if failures:  # the first delivery attempt fails; the emulator must retry
            return web.Response(status=failures.pop())
        return await handler(request)

    app = web.Application(middlewares=[flaky])
    SimpleRequestHandler(dp, bot, secret_token="s3cret", handle_in_background=False).register(app, path="/hook")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        user = emu.make_user(11)
        assert await bot.set_webhook(url, secret_token="s3cret") is True
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        emu.send_text(user, "hello")
        params = await emu.wait_for_call("sendMessage")
        assert (params["chat_id"], params["text"]) == (11, "echo: hello")
        assert emu.sent_messages(11)[0]["text"] == "echo: hello"
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count) == (url, 0)
        assert "500" in info.last_error_message

        assert await bot.set_webhook(url, secret_token="wrong") is True  # aiogram now answers 401
        emu.send_text(user, "lost")
        await asyncio.sleep(emu.webhook_retry_delay * emu.webhook_attempts + 0.1)
        assert "401" in (await bot.get_webhook_info()).last_error_message
        assert len(emu.sent_messages(11)) == 1

        assert await bot.delete_webhook(drop_pending_updates=True) is True
        assert (await bot.get_webhook_info()).url == ""
        assert await bot.get_updates(timeout=0) == []
    finally:
        await emu.stop()  # stop the delivery worker before its target goes away
        await runner.cleanup()


async def test_harmless_setup_methods(emu, bot):
    from aiogram.types import BotCommand, MenuButtonWebApp, WebAppInfo

    assert await bot.set_my_commands([BotCommand(command="start", description="Start")])
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert await bot.set_chat_menu_button(
        menu_button=MenuButtonWebApp(text="Open", web_app=WebAppInfo(url="https://example.org/app"))
    )
    assert await bot.delete_my_commands()
    assert [name for name, _ in emu.calls][-4:] == [
        "setMyCommands",
        "getMyCommands",
        "setChatMenuButton",
        "deleteMyCommands",
    ]


def test_init_data_hash_matches_an_independent_derivation():
    token = "123456:TEST"
    user = {
        "id": 42,
        "is_bot": False,
        "first_name": "Иван / Ivan",
        "username": "ivan",
        "photo_url": "https://t.me/i/userpic/320/x.svg",
    }
    raw = sign_init_data(
        token, user, auth_date=1_700_000_000, start_param="ref_7", query_id="AAH1", chat_type="private"
    )
    pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    assert "+" not in raw and "%20" in raw  # spaces are %20, like Telegram
    fields = dict(pairs)
    received = fields.pop("hash")
    assert [k for k, _ in pairs][-1] == "hash"
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    assert hmac.new(secret, check.encode(), hashlib.sha256).hexdigest() == received
    assert json.loads(fields["user"]) == {k: v for k, v in user.items() if k != "is_bot"}
    assert "\\/" in fields["user"] and "Иван" in fields["user"]
    assert (fields["auth_date"], fields["start_param"], fields["chat_type"]) == ("1700000000", "ref_7", "private")
    assert "signature" not in fields
    assert sign_init_data("654321:OTHER", user, auth_date=1_700_000_000).split("hash=")[1] != received
