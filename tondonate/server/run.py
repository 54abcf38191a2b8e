"""``tondonate serve``: the HTTP server and the bot in ONE asyncio event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable

from aiohttp import web

from ..config import Config
from ..db.migrate import migrate
from ..redact import redact_db_url
from .app import create_app
from .http import HttpRunner

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 3.0  # in-flight requests get this long; the whole stop stays under 5 s


async def serve(config: Config, *, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    """Migrate, start, and run until SIGINT/SIGTERM (or ``stop`` is set)."""
    applied = await asyncio.to_thread(migrate, config.db.url)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    if not config.webapp.url:
        log.warning(
            "webapp.url is not set (TONDONATE_WEBAPP_URL): /start cannot offer the Mini App button; "
            "set it to the public HTTPS URL of this server"
        )
    app = create_app(config)
    runner = HttpRunner(app, config.http, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, or Windows
            loop.add_signal_handler(sig, stop.set)
    try:
        # Opens the database, the bot... (cleanup_ctx); cleaned up below even if it fails.  A stop
        # during it (Telegram unreachable: getMe waiting for its timeout) cancels it: a quiet exit.
        if not await _unless_stopped(runner.setup(), stop):
            log.info("stopping before the start-up finished")
            return
        site = web.TCPSite(runner, config.http.host, config.http.port)
        await site.start()
        log.info(
            "tondonate serving on http://%s:%s (bot: %s, db: %s)",
            config.http.host,
            config.http.port,
            config.bot.mode,
            redact_db_url(config.db.url),
        )
        if ready:
            ready.set()
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        log.info("stopped")


async def _unless_stopped(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Await ``work``, or cancel it when ``stop`` is set first; True when it finished."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()  # its error (a rejected token...), if any
    return True
