"""The bot side of the server, opened and closed as ONE cleanup context: the aiogram
Bot and Dispatcher, getMe, long polling or the webhook, and the reconcile loop.

aiogram is imported here, in a worker thread, and by nothing on the way to serving
HTTP: importing it builds some 600 pydantic models, 4-5 s of CPU on a small VPS.
``tondonate serve`` waits for the bot before it listens (a bad token must stop the
start); ``tondonate demo`` starts it in the background, so the page and the read API
answer about a second after launch, and what needs the bot (creating an invoice, a
webhook update) waits for it with :meth:`~tondonate.bot.handle.BotHandle.when_ready`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ..bot.handle import BotHandle, BotIdentity
from ..ledger import Ledger
from ..ledger.reconcile import StarTransactions, reconcile
from ..periodic import Periodic
from . import appkeys

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

RECONCILE_EVERY = 3600.0
RECONCILE_RETRY = 5.0  # seconds before retrying a failed reconcile, doubling...
RECONCILE_RETRY_MAX = 300.0  # ...up to this


class StartupError(RuntimeError):
    """The server cannot start; the message tells the operator what to fix."""


def bot_ctx(*, run_bot: bool, background: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context, filling the app's :class:`BotHandle`.  ``run_bot=False`` builds
    the Bot (for createInvoiceLink) without polling, webhook or reconcile; ``background``
    starts it without waiting."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        state = app[appkeys.BOT]
        async with contextlib.AsyncExitStack() as stack:
            if not background:
                await _start(app, stack, state, run_bot)
                state.ready.set()
                yield
                return
            task = asyncio.create_task(_start_in_background(app, stack, run_bot, state), name="bot-start")
            try:
                yield
            finally:
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # leaving the stack stopped polling, reconcile and the thank-you queue, then closed the session

    return ctx


async def _start_in_background(
    app: web.Application, stack: contextlib.AsyncExitStack, run_bot: bool, state: BotHandle
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await _start(app, stack, state, run_bot)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        state.failed = str(exc)
        log.error("the bot could not start: %s", exc, exc_info=not isinstance(exc, StartupError))
        return
    state.ready.set()
    log.info("bot started in the background in %.2f s", loop.time() - started)


async def _start(app: web.Application, stack: contextlib.AsyncExitStack, state: BotHandle, run_bot: bool) -> None:
    # In a thread: the event loop keeps answering HTTP while pydantic builds aiogram's models.
    await asyncio.to_thread(importlib.import_module, "tondonate.bot.client")
    from aiogram.exceptions import TelegramUnauthorizedError

    from ..bot.client import build_bot, build_dispatcher
    from ..bot.stars import TelegramStars
    from ..bot.thanks import ThankYouSender

    config, store, ledger = app[appkeys.CONFIG], app[appkeys.SETTINGS], app[appkeys.LEDGER]
    bot = build_bot(config)
    stack.push_async_callback(bot.session.close)
    thanks = ThankYouSender(bot, lambda: store.current["bot.thanks_per_second"])
    stack.push_async_callback(thanks.close)  # flushed before the session closes
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError:
        raise StartupError("Telegram rejected bot.token (401 Unauthorized): check TONDONATE_BOT_TOKEN") from None
    except Exception as exc:  # Telegram briefly unreachable: keep serving, learn the username later
        log.warning("getMe failed (%s); retrying in the background", exc)
        refresher = asyncio.create_task(_get_me_until_ok(bot, state), name="bot-get-me")
        stack.push_async_callback(_cancel, refresher)
    else:
        state.identity = BotIdentity(me.id, me.username, me.first_name)
        await _note_bot_id(app, me.id, me.username)
    dp = build_dispatcher(db=app[appkeys.DB], settings=store, config=config, ledger=ledger, thanks=thanks)
    state.bot, state.dispatcher = bot, dp
    if not run_bot:
        return
    if config.bot.mode == "webhook":
        await bot.set_webhook(
            config.bot.webhook_url,
            secret_token=config.bot.webhook_secret or None,
            allowed_updates=dp.resolve_used_update_types(),
        )
        log.info("webhook set to %s", config.bot.webhook_url)
    else:
        await stack.enter_async_context(_polling(bot, dp, state))
    job = _Reconciler(ledger, TelegramStars(bot), state)
    reconciler = Periodic(
        "reconcile", job.run, job.next_in, log=log, failure="reconcile failed; retrying", first_delay=0
    )
    reconciler.start()
    stack.push_async_callback(reconciler.stop)


async def _note_bot_id(app: web.Application, bot_id: int, username: str | None) -> None:
    """Record which bot this database belongs to (``tondonate doctor`` compares it); an ERROR
    line when the token is another bot's.  Never stops the start: a failed write is logged."""
    from ..bot.seen import STATE_KEY, remember_bot_id

    try:
        other = await remember_bot_id(app[appkeys.DB], bot_id)
    except Exception as exc:
        log.warning("could not record the bot id in sync_state: %s", exc)
        return
    if other is not None:
        log.error(
            "bot.token belongs to @%s (id %d) but this database was used by bot id %d (sync_state %r): "
            "wrong token or wrong database? payments of the other bot cannot be reconciled or refunded",
            username,
            bot_id,
            other,
            STATE_KEY,
        )


async def _cancel(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _get_me_until_ok(bot: Bot, state: BotHandle) -> None:
    delay = 1.0
    while state.identity is None:
        await asyncio.sleep(delay)
        try:
            me = await bot.get_me()
        except Exception as exc:
            log.warning("getMe failed again (%s)", exc)
            delay = min(delay * 2, 60)
        else:
            state.identity = BotIdentity(me.id, me.username, me.first_name)


@contextlib.asynccontextmanager
async def _polling(bot, dp, state: BotHandle):
    """Long polling in the server's own event loop, confirming updates once handled
    (see bot/updates.py); stopped first on shutdown."""
    from ..bot.updates import Poller

    poller = Poller(bot, dp, allowed_updates=dp.resolve_used_update_types(), counts=state.updates)
    task = asyncio.create_task(poller.run(), name="bot-polling")
    try:
        yield
    finally:
        await poller.stop(task)


class _Reconciler:
    """Credit what a crash or an outage left behind: at start-up, then hourly.  A failed
    run is retried sooner (5 s, doubling to 5 min) until one succeeds; the handle keeps
    the outcome for ``/healthz``."""

    def __init__(self, ledger: Ledger, telegram: StarTransactions, state: BotHandle):
        self.ledger, self.telegram, self.state = ledger, telegram, state
        self.failures = 0

    def next_in(self) -> float:
        return (
            RECONCILE_EVERY
            if not self.failures
            else min(RECONCILE_RETRY * 2 ** (self.failures - 1), RECONCILE_RETRY_MAX)
        )

    async def run(self) -> None:
        try:
            report = await reconcile(self.ledger, self.telegram)
        except Exception as exc:
            self.failures += 1
            self.state.reconcile_error = str(exc) or type(exc).__name__
            raise
        self.failures = 0
        self.state.reconcile_error = None
        self.state.reconciled_at = time.time()
        log.info(
            "reconcile: scanned %d transactions, credited %d missing, applied %d refunds, %d recorded credited",
            report.scanned,
            len(report.credited),
            len(report.refunded),
            report.recorded_credited,
        )
