"""``tondonate doctor``: is this deployment set up right?  One :class:`Check` per line.

Each check asks the real thing: the Bot API (``getMe``, ``getChatMenuButton``,
``getWebhookInfo``, the ``Date`` header of its answers for the clock), the Mini App's
public URL (fetched like Telegram's in-app browser would), the database (migrations,
``db check``, the bot id it recorded) and the rate source.  Nothing is changed, except
that a database that never recorded a bot id gets this token's (``sync_state`` row
``bot.id``, as ``serve`` does), and a fetched rate is stored in ``rates`` as ``serve``
stores every fetched rate.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from ..config import Config
from .check import FAIL, OK, WARN, Check
from .local import TIMEOUT_SECONDS, database_checks, migration_check, webapp_check
from .telegram import BotApi, BotApiError, clock_check, menu_button_check, webhook_check

__all__ = ["FAIL", "OK", "WARN", "Check", "run_checks"]


async def run_checks(config: Config) -> AsyncIterator[Check]:
    """Every check, yielded as soon as it is done (the CLI prints each at once)."""
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    # A context made now (not aiohttp's, made at import): SSL_CERT_FILE / SSL_CERT_DIR apply.
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        api = BotApi(session, config)
        me: dict[str, Any] | None = None
        if not config.bot.token:
            yield Check(FAIL, "token", "bot.token is not set: put it in tondonate.toml or set TONDONATE_BOT_TOKEN")
        else:
            try:
                me = await api.call("getMe")
            except BotApiError as exc:
                if exc.code == 401:
                    yield Check(
                        FAIL, "token", "Telegram rejected bot.token (401 Unauthorized): check it with @BotFather"
                    )
                else:
                    yield Check(FAIL, "token", f"getMe failed: {exc}")
            else:
                yield Check(OK, "token", f"@{me.get('username')} (id {me['id']})")
        if api.date_skew is not None:
            yield clock_check(api.date_skew)

        check, db_ready = await asyncio.to_thread(migration_check, config.db.url)
        yield check
        if db_ready:
            try:
                async for check in database_checks(config, me):
                    yield check
            except Exception as exc:  # the database went away between the checks
                yield Check(FAIL, "database", f"{type(exc).__name__}: {exc}")

        yield await webapp_check(session, config)
        if me is not None:
            yield await menu_button_check(api, config)
            yield await webhook_check(api, config)
