"""``create_app(config)``: the aiohttp application, with every resource opened and
closed in a ``cleanup_ctx`` (database, settings, bot, polling), in that order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from aiogram.exceptions import TelegramUnauthorizedError
from aiohttp import web

from . import appkeys
from .bot import build_bot, build_dispatcher
from .bot.thanks import ThankYouSender
from .config import Config
from .db import open_database
from .errors import json_errors, json_response
from .settings import SettingsStore
from .static import setup_static

log = logging.getLogger(__name__)

WEBHOOK_DEFAULT_PATH = "/telegram/webhook"


class StartupError(RuntimeError):
    """The server cannot start; the message tells the operator what to fix."""


async def database_ctx(app: web.Application):
    db = open_database(app[appkeys.CONFIG].db.url)
    await db.start()
    app[appkeys.DB] = db
    yield
    await db.stop()


async def settings_ctx(app: web.Application):
    store = SettingsStore(app[appkeys.DB], app[appkeys.CONFIG].settings)
    await store.start()
    app[appkeys.SETTINGS] = store
    yield
    await store.stop()


async def ledger_ctx(app: web.Application):
    """The rate provider and the ledger (the money path)."""
    from .ledger import Ledger
    from .rates import RateProvider

    store = app[appkeys.SETTINGS]
    rates = RateProvider(app[appkeys.DB], lambda: store.current)
    await rates.start()
    ledger = Ledger(app[appkeys.DB], lambda: store.current, rates)
    app[appkeys.SERVICES].update(rates=rates, ledger=ledger)
    yield
    await ledger.stop()
    await rates.stop()


async def bot_ctx(app: web.Application):
    config = app[appkeys.CONFIG]
    services = app[appkeys.SERVICES]
    bot = build_bot(config)
    app[appkeys.BOT] = bot
    store = app[appkeys.SETTINGS]
    thanks = ThankYouSender(bot, lambda: store.current["bot.thanks_per_second"])
    app[appkeys.DISPATCHER] = build_dispatcher(
        db=app[appkeys.DB], settings=store, config=config, services=services,
        ledger=services["ledger"], thanks=thanks,
    )
    refresher = None
    try:
        services["bot_user"] = await bot.get_me()
    except TelegramUnauthorizedError:
        await bot.session.close()
        raise StartupError("Telegram rejected bot.token (401 Unauthorized): check TONDONATE_BOT_TOKEN") from None
    except Exception as exc:  # Telegram briefly unreachable: keep serving, learn the username later
        log.warning("getMe failed (%s); retrying in the background", exc)
        refresher = asyncio.create_task(_get_me_until_ok(bot, services), name="bot-get-me")
    yield
    if refresher:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
    await thanks.close()
    await bot.session.close()


async def _get_me_until_ok(bot, services) -> None:
    delay = 1.0
    while "bot_user" not in services:
        await asyncio.sleep(delay)
        try:
            services["bot_user"] = await bot.get_me()
        except Exception as exc:
            log.warning("getMe failed again (%s)", exc)
            delay = min(delay * 2, 60)


RECONCILE_EVERY = 3600.0


async def reconcile_ctx(app: web.Application):
    """Credit what a crash or an outage left behind: at start-up, then hourly."""
    from .reconcile import reconcile

    ledger, bot = app[appkeys.SERVICES]["ledger"], app[appkeys.BOT]

    async def loop():
        while True:
            try:
                report = await reconcile(ledger, bot)
                log.info(
                    "reconcile: scanned %d transactions, credited %d missing, applied %d refunds, %d recorded credited",
                    report.scanned, len(report.credited), len(report.refunded), report.recorded_credited,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reconcile failed (%s); will try again", exc)
            await asyncio.sleep(RECONCILE_EVERY)

    task = asyncio.create_task(loop(), name="reconcile")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def polling_ctx(app: web.Application):
    """Long polling in the server's own event loop; stopped first on shutdown."""
    bot, dp = app[appkeys.BOT], app[appkeys.DISPATCHER]
    task = asyncio.create_task(
        dp.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            allowed_updates=dp.resolve_used_update_types(),
        ),
        name="bot-polling",
    )
    yield
    with contextlib.suppress(RuntimeError):  # RuntimeError: polling already ended
        await dp.stop_polling()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=3)


def _webhook_path(config: Config) -> str:
    return urlsplit(config.bot.webhook_url).path or WEBHOOK_DEFAULT_PATH


async def webhook_ctx(app: web.Application):
    config, bot, dp = app[appkeys.CONFIG], app[appkeys.BOT], app[appkeys.DISPATCHER]
    await bot.set_webhook(
        config.bot.webhook_url,
        secret_token=config.bot.webhook_secret or None,
        allowed_updates=dp.resolve_used_update_types(),
    )
    log.info("webhook set to %s", config.bot.webhook_url)
    yield


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[appkeys.DB].fetchval("SELECT 1")
    except Exception as exc:
        log.warning("health check: database unavailable: %s", exc)
        return json_response({"status": "unavailable", "error": {"code": "database_unavailable", "message": str(exc)}}, 503)
    return json_response({"status": "ok"})


def create_app(config: Config, *, run_bot: bool = True) -> web.Application:
    """The whole server.  ``run_bot=False`` serves HTTP only (the bot object still
    exists for createInvoiceLink, but no polling or webhook is started)."""
    if not config.bot.token:
        raise StartupError("bot.token is not set: put it in tondonate.toml or TONDONATE_BOT_TOKEN")
    # No middleware (see errors.py): every handler is wrapped in json_errors instead.
    app = web.Application(client_max_size=64 * 1024)
    app[appkeys.CONFIG] = config
    app[appkeys.SERVICES] = {}
    app.cleanup_ctx.extend([database_ctx, settings_ctx, ledger_ctx, bot_ctx])
    app.router.add_get("/healthz", json_errors(healthz))

    from .api import setup_api  # the Mini App API (its own module tree)

    setup_api(app)
    if run_bot and config.bot.mode == "webhook":
        from aiogram.webhook.aiohttp_server import SimpleRequestHandler

        async def webhook(request: web.Request):
            handler = SimpleRequestHandler(
                dispatcher=request.app[appkeys.DISPATCHER],
                bot=request.app[appkeys.BOT],
                secret_token=config.bot.webhook_secret or None,
            )
            return await handler.handle(request)

        app.router.add_post(_webhook_path(config), json_errors(webhook))
        app.cleanup_ctx.append(webhook_ctx)
    elif run_bot:
        app.cleanup_ctx.append(polling_ctx)
    if run_bot:
        app.cleanup_ctx.append(reconcile_ctx)
    setup_static(app)
    return app
