"""``create_app(config)``: the aiohttp application, with every resource opened and
closed in a ``cleanup_ctx``, in this order: the database, the settings, the ledger
(with its rate provider), the read model (then the API serves), the bot with its
polling or webhook and the reconcile loop.  Each is shared under its typed key
(:mod:`.appkeys`)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

from aiohttp import web

from ..api import API, ApiParts, setup_api
from ..api.clientaddr import trust_proxies
from ..api.errors import ApiError, bad_request, bot_unavailable, json_errors, json_response, unauthorized
from ..bot.errors import BotUnavailable
from ..bot.handle import BotHandle
from ..config import Config, require_bot_token
from ..db import open_database
from ..ledger import open_ledger
from ..readmodel import ReadModel
from ..settings import SettingsStore
from . import appkeys
from .botlife import bot_ctx
from .metrics import setup_metrics
from .static import setup_static

log = logging.getLogger(__name__)

WEBHOOK_DEFAULT_PATH = "/telegram/webhook"
Context = Callable[[web.Application], AsyncIterator[None]]


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    db = open_database(app[appkeys.CONFIG].db.url)
    await db.start()
    app[appkeys.DB] = db
    yield
    await db.stop()


async def settings_ctx(app: web.Application) -> AsyncIterator[None]:
    store = SettingsStore(app[appkeys.DB], app[appkeys.CONFIG].settings)
    await store.start()
    app[appkeys.SETTINGS] = store
    yield
    await store.stop()


async def ledger_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[appkeys.SETTINGS]
    async with open_ledger(app[appkeys.DB], lambda: store.current) as ledger:
        app[appkeys.LEDGER] = ledger
        yield


async def read_model_ctx(app: web.Application) -> AsyncIterator[None]:
    """The boards in memory; up before the bot delivers payments, and the API serves from them."""
    store = app[appkeys.SETTINGS]
    model = ReadModel(app[appkeys.DB], lambda: store.current.timezone)
    await model.start()
    app[appkeys.MODEL] = model
    app[API].attach(ApiParts(app[appkeys.DB], store, app[appkeys.LEDGER], model, app[appkeys.BOT]))
    yield
    await model.stop()


def _webhook_path(config: Config) -> str:
    return urlsplit(config.bot.webhook_url).path or WEBHOOK_DEFAULT_PATH


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[appkeys.DB].fetchval("SELECT 1")
    except Exception as exc:
        log.warning("health check: database unavailable: %s", exc)
        return json_response(
            {"status": "unavailable", "error": {"code": "database_unavailable", "message": str(exc)}}, 503
        )
    waiting, write_error = request.app[appkeys.LEDGER].health()
    if waiting or write_error:
        message = f"{waiting} payment(s) wait for a retry; the database refused a write: {write_error}"
        log.warning("health check: degraded: %s", message)
        body = {
            "status": "degraded",
            "payments_waiting": waiting,
            "error": {"code": "writes_failing", "message": message},
        }
        return json_response(body, 503)
    reconcile_error = request.app[appkeys.BOT].reconcile_error
    if reconcile_error:  # payments are safe without it (updates are confirmed once saved): a warning
        return json_response(
            {"status": "ok", "warnings": [f"reconcile with Telegram failing, retrying: {reconcile_error}"]}
        )
    return json_response({"status": "ok"})


def create_app(config: Config, *, run_bot: bool = True, bot_in_background: bool = False) -> web.Application:
    """The whole server.  ``run_bot=False`` serves HTTP only (the bot object still
    exists for createInvoiceLink, but no polling, webhook or reconcile is started).
    ``bot_in_background`` starts serving without waiting for the bot (see botlife.py)."""
    require_bot_token(config)
    # No middleware (see api/errors.py): every handler is wrapped in json_errors instead.
    app = web.Application(client_max_size=64 * 1024)
    app[appkeys.CONFIG] = config
    app[appkeys.BOT] = BotHandle()  # the Bot itself arrives with bot_ctx
    trust_proxies(app, config.http.trusted_proxies)  # whose X-Forwarded-For the logs believe
    setup_api(app, config)
    app.cleanup_ctx.extend(
        [database_ctx, settings_ctx, ledger_ctx, read_model_ctx, bot_ctx(run_bot=run_bot, background=bot_in_background)]
    )
    app.router.add_get("/healthz", json_errors(healthz))
    if run_bot and config.bot.mode == "webhook":
        app.router.add_post(_webhook_path(config), json_errors(webhook))
    setup_metrics(app)
    setup_static(app)
    return app


async def webhook(request: web.Request) -> web.StreamResponse:
    """Updates pushed by Telegram (bot.mode = "webhook").  Answered once handled: a 503
    (the bot still starting, a payment the database could not save) makes Telegram retry."""
    app = request.app
    secret = app[appkeys.CONFIG].bot.webhook_secret
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if secret and not hmac.compare_digest(given.encode(), secret.encode()):
        raise unauthorized("Wrong or missing X-Telegram-Bot-Api-Secret-Token")
    handle = app[appkeys.BOT]
    try:
        bot = await handle.when_ready(timeout=5.0)
    except BotUnavailable as exc:
        raise bot_unavailable(exc) from None
    assert handle.dispatcher is not None  # set with the bot
    from ..bot.updates import handle_webhook_update  # aiogram is loaded once the bot is ready

    try:
        handled = await handle_webhook_update(handle.dispatcher, bot, await request.read(), handle.updates)
    except ValueError as exc:
        raise bad_request(str(exc)[:300]) from None
    if not handled:
        raise ApiError(503, "not_saved", "The update could not be saved; deliver it again", {"Retry-After": "5"})
    return json_response({})
