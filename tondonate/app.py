"""``create_app(config)``: the aiohttp application, with every resource opened and
closed in a ``cleanup_ctx`` (database, settings, ledger, read model, then the bot with
its polling or webhook and the reconcile loop), in that order."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import web

from . import appkeys
from .botlife import StartupError, bot_ctx, bot_when_ready
from .config import Config
from .db import open_database
from .errors import json_errors, json_response
from .settings import SettingsStore
from .static import setup_static

log = logging.getLogger(__name__)

WEBHOOK_DEFAULT_PATH = "/telegram/webhook"


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


def _webhook_path(config: Config) -> str:
    return urlsplit(config.bot.webhook_url).path or WEBHOOK_DEFAULT_PATH


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[appkeys.DB].fetchval("SELECT 1")
    except Exception as exc:
        log.warning("health check: database unavailable: %s", exc)
        return json_response({"status": "unavailable", "error": {"code": "database_unavailable", "message": str(exc)}}, 503)
    return json_response({"status": "ok"})


def create_app(config: Config, *, run_bot: bool = True, bot_in_background: bool = False) -> web.Application:
    """The whole server.  ``run_bot=False`` serves HTTP only (the bot object still
    exists for createInvoiceLink, but no polling, webhook or reconcile is started).
    ``bot_in_background`` starts serving without waiting for the bot (see botlife.py)."""
    if not config.bot.token:
        raise StartupError("bot.token is not set: put it in tondonate.toml or TONDONATE_BOT_TOKEN")
    # No middleware (see errors.py): every handler is wrapped in json_errors instead.
    app = web.Application(client_max_size=64 * 1024)
    app[appkeys.CONFIG] = config
    app[appkeys.SERVICES] = {}
    app.cleanup_ctx.extend([database_ctx, settings_ctx, ledger_ctx])
    app.router.add_get("/healthz", json_errors(healthz))

    from .api import setup_api  # the Mini App API (its own module tree)

    setup_api(app)  # adds the read model's context: it is up before the bot delivers payments
    app.cleanup_ctx.append(bot_ctx(run_bot=run_bot, background=bot_in_background))
    if run_bot and config.bot.mode == "webhook":
        app.router.add_post(_webhook_path(config), json_errors(webhook))
    setup_static(app)
    return app


async def webhook(request: web.Request) -> web.StreamResponse:
    """Updates pushed by Telegram (bot.mode = "webhook"); a 503 while the bot starts makes Telegram retry."""
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    app = request.app
    bot = await bot_when_ready(app, timeout=5.0)
    handler = SimpleRequestHandler(
        dispatcher=app[appkeys.BOT].dispatcher, bot=bot,
        secret_token=app[appkeys.CONFIG].bot.webhook_secret or None,
    )
    return await handler.handle(request)
