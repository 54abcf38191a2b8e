"""The bot as the rest of the server sees it: :class:`BotHandle`.

It exists from the server's start; the aiogram Bot inside it comes later (at once
for ``serve``, which waits for it; after a few seconds in the background for the
demo, see ``server/botlife.py``).  What needs Telegram -- an invoice link, a
webhook update -- waits for it with :meth:`BotHandle.when_ready`.  No aiogram import
at the top of this module: the HTTP side imports it before aiogram is loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import TYPE_CHECKING

from .errors import BotUnavailable

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from ..ledger import Quote

BOT_WAIT_SECONDS = 15.0  # how long a request needing the bot waits for a background start


@dataclasses.dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is (from getMe): the username makes the referral links."""

    id: int
    username: str | None
    first_name: str


@dataclasses.dataclass
class UpdateCounts:
    """Updates handed to the dispatcher, by type (``message``, ``pre_checkout_query``...),
    and when the last one came: plain numbers the metrics read (server/metrics.py)."""

    by_type: dict[str, int] = dataclasses.field(default_factory=dict)
    last_at: float | None = None  # unix time

    def seen(self, kind: str) -> None:
        self.by_type[kind] = self.by_type.get(kind, 0) + 1
        self.last_at = time.time()


@dataclasses.dataclass
class BotHandle:
    ready: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    bot: Bot | None = None
    dispatcher: Dispatcher | None = None
    identity: BotIdentity | None = None  # from getMe, possibly learnt after the start
    failed: str | None = None  # why a background start gave up
    reconciled_at: float | None = None  # when reconcile against getStarTransactions last succeeded
    reconcile_error: str | None = None  # why the last reconcile failed, until one succeeds
    updates: UpdateCounts = dataclasses.field(default_factory=UpdateCounts)  # polling or webhook

    async def when_ready(self, timeout: float | None = None) -> Bot:
        """The Bot, once started; :class:`BotUnavailable` when it is still starting after
        ``timeout`` seconds (default :data:`BOT_WAIT_SECONDS`), or could not start."""
        if not self.ready.is_set() and self.failed is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.ready.wait(), BOT_WAIT_SECONDS if timeout is None else timeout)
        if self.failed is not None:
            raise BotUnavailable("bot_unavailable", f"The bot could not start: {self.failed}", 30)
        if not self.ready.is_set() or self.bot is None:
            raise BotUnavailable("bot_starting", "The bot is still starting; try again in a few seconds", 2)
        return self.bot

    async def invoice_link(self, quote: Quote, language_code: str | None, decimals: int) -> str:
        """Telegram's link for an issued invoice, titled in the payer's language."""
        bot = await self.when_ready()
        from .invoices import create_invoice_link  # aiogram is loaded once the bot is ready

        return await create_invoice_link(bot, quote, language_code, decimals)
