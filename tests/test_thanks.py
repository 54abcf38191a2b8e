"""Thank-you messages: queued after a credit and sent at Telegram's pace, through the
real aiogram Bot against the Bot API emulator."""

from __future__ import annotations

import logging
import time

import pytest
from ledger_support import eventually

from tondonate.bot.client import build_bot
from tondonate.bot.thanks import ThankYouSender
from tondonate.config import Config
from tondonate.emulator import BotAPIEmulator

TOKEN = "777:THANKS-token"


@pytest.fixture
async def bot():
    async with BotAPIEmulator(token=TOKEN, bot_username="thanks_bot") as emu:
        bot = build_bot(Config().replace(bot={"token": TOKEN, "api_base": emu.base_url}))
        bot.emulator = emu
        try:
            yield bot
        finally:
            await bot.session.close()


def sent(bot):
    return [(c[1]["chat_id"], c[1]["text"]) for c in bot.emulator.calls if c[0] == "sendMessage"]


async def test_thanks_are_sent_in_order_no_faster_than_the_setting(bot):
    sender = ThankYouSender(bot, lambda: 20)
    started = time.monotonic()
    for n in range(6):
        assert sender.send(100 + n, f"thanks {n}")
    await eventually(lambda: len(sent(bot)) == 6, timeout=5, what="six thank-yous")
    assert sent(bot) == [(100 + n, f"thanks {n}") for n in range(6)]
    assert time.monotonic() - started >= 5 / 20 * 0.9  # the first at once, then one every 1/20 s
    await sender.close()


async def test_a_burst_beyond_the_queue_is_skipped_and_logged(bot, caplog):
    caplog.set_level(logging.WARNING, "tondonate.bot.thanks")
    sender = ThankYouSender(bot, lambda: 30, max_waiting=5)
    results = [sender.send(200 + n, "thanks") for n in range(12)]
    assert results.count(True) == 5 and results[5:] == [False] * 7  # the first is already out of the queue
    await eventually(lambda: len(sent(bot)) == 5, timeout=5, what="the queued thank-yous")
    await eventually(lambda: "skipped 7 thank-you messages" in caplog.text, timeout=2, what="the skip count logged")
    assert "more than 5 thank-you messages waiting" in caplog.text
    await sender.close()


async def test_zero_per_second_turns_them_off(bot):
    per_second = 0
    sender = ThankYouSender(bot, lambda: per_second)
    assert not sender.send(300, "thanks")
    per_second = 5  # a live setting: the next credit is thanked again
    assert sender.send(301, "thanks")
    await eventually(lambda: sent(bot) == [(301, "thanks")], timeout=5, what="the thank-you")
    await sender.close()


async def test_flood_control_is_waited_out_and_other_errors_only_logged(bot, caplog):
    caplog.set_level(logging.INFO, "tondonate.bot.thanks")
    bot.emulator.fail_next("sendMessage", 429, retry_after=1)
    bot.emulator.fail_next("sendMessage", 403)  # the retry above consumes the 429; this hits the next chat
    sender = ThankYouSender(bot, lambda: 30)
    sender.send(400, "first")
    sender.send(401, "second")
    sender.send(402, "third")
    await eventually(lambda: len(sent(bot)) >= 2, timeout=5, what="the thank-yous after the 429")
    await sender.close()
    assert (400, "first") in sent(bot) and (402, "third") in sent(bot)
    assert "could not send a thank-you message to 401" in caplog.text


async def test_close_gives_up_on_what_it_cannot_send_in_time(bot, caplog):
    caplog.set_level(logging.WARNING, "tondonate.bot.thanks")
    sender = ThankYouSender(bot, lambda: 2)
    for n in range(10):
        sender.send(500 + n, "thanks")
    started = time.monotonic()
    await sender.close(flush_seconds=0.6)
    assert time.monotonic() - started < 2
    assert 1 <= len(sent(bot)) <= 3
    assert "thank-you messages not sent" in caplog.text
