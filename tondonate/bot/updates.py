"""Updates confirmed to Telegram only once they are handled: long polling and the webhook.

Telegram forgets an update once it is confirmed: in long polling, by the ``offset``
of the next getUpdates call; with a webhook, by a 2xx answer.  aiogram's own polling
hands each update of a batch to a task and asks for the next batch at once, so the
batch is confirmed while its payments are still on their way to the database (and
its webhook handler answers 200 before handling, by default).  A process killed in
that moment lost every payment not yet committed -- 74 on SQLite, 795 on PostgreSQL
in one kill -9 run -- found again only by the next reconcile, up to an hour later.

Here an update is confirmed only when its handler has returned, which for a payment
means it is in the database (credited, or at least recorded).  A batch is still
handled concurrently, so the ledger commits its payments together.  A handler that
raises :class:`~tondonate.bot.errors.RedeliverLater` (the database could not save
the payment) keeps its update unconfirmed: Telegram delivers it again after a pause,
and updates after it in the batch that were handled are not handled a second time.
Any other error in a handler is a bug that a redelivery would only repeat: it is
logged and the update confirmed, as aiogram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from aiogram import Bot, Dispatcher
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig
from pydantic import ValidationError

from .errors import RedeliverLater
from .handle import UpdateCounts

log = logging.getLogger(__name__)

POLL_TIMEOUT = 30  # seconds Telegram holds a getUpdates call open when nothing is new
STOP_GRACE = 5.0  # seconds a stopping poller lets the batch in hand finish
FETCH_BACKOFF = BackoffConfig(min_delay=1.0, max_delay=5.0, factor=1.3, jitter=0.1)  # aiogram's defaults
REDELIVER_BACKOFF = BackoffConfig(min_delay=0.5, max_delay=30.0, factor=2.0, jitter=0.1)


def update_kind(update: Update) -> str:
    """The update's type, with a payment's messages told apart (they are what an operator
    watches): ``successful_payment``, ``refunded_payment``, ``message``, ``pre_checkout_query``..."""
    message = update.message
    if message is not None:
        if message.successful_payment is not None:
            return "successful_payment"
        if message.refunded_payment is not None:
            return "refunded_payment"
        return "message"
    try:
        return update.event_type
    except Exception:  # a type this aiogram does not know (UpdateTypeLookupError)
        return "unknown"


async def handle_update(dp: Dispatcher, bot: Bot, update: Update, counts: UpdateCounts | None = None) -> bool:
    """Feed one update to the dispatcher; False when Telegram must deliver it again."""
    if counts is not None:
        counts.seen(update_kind(update))
    try:
        result = await dp.feed_update(bot, update, dispatcher=dp)
    except RedeliverLater as exc:
        log.warning("update %d not handled (%s); Telegram will deliver it again", update.update_id, exc)
        return False
    except Exception:
        log.exception("update %d: the handler failed; the update is dropped", update.update_id)
        return True
    if isinstance(result, TelegramMethod):  # a handler may answer by returning a method
        with contextlib.suppress(Exception):
            await bot(result)
    return True


class Poller:
    """getUpdates in a loop; each batch handled before its offset is sent back.

    ``run()`` until :meth:`stop`, which lets the batch in hand finish (up to
    :data:`STOP_GRACE` seconds) and then confirms what was handled.
    """

    def __init__(
        self,
        bot: Bot,
        dp: Dispatcher,
        *,
        allowed_updates: list[str],
        timeout: int = POLL_TIMEOUT,
        counts: UpdateCounts | None = None,
    ):
        self.bot = bot
        self.dp = dp
        self.counts = counts
        self.allowed_updates = allowed_updates
        self.timeout = timeout
        self.offset: int | None = None  # the next getUpdates confirms every update before it
        self._confirmed: int | None = None  # the offset Telegram has been sent
        self._handled: set[int] = set()  # handled, at or past the offset (a batch held back)
        self._stopping = asyncio.Event()
        self._fetch: asyncio.Task[list[Update]] | None = None

    async def run(self) -> None:
        log.info("long polling started (an update is confirmed to Telegram once handled)")
        fetch_backoff, redeliver_backoff = Backoff(FETCH_BACKOFF), Backoff(REDELIVER_BACKOFF)
        while not self._stopping.is_set():
            try:
                updates = await self._get_updates(self.timeout)
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    break
                raise
            except Exception as exc:
                log.error(
                    "getUpdates failed (%s: %s); again in %.1f s", type(exc).__name__, exc, fetch_backoff.next_delay
                )
                await self._pause(fetch_backoff)
                continue
            fetch_backoff.reset()
            if not updates:
                continue
            if await self._handle_batch(updates):
                redeliver_backoff.reset()
            else:
                await self._pause(redeliver_backoff)

    async def _get_updates(self, timeout: int) -> list[Update]:
        call = GetUpdates(offset=self.offset, timeout=timeout, allowed_updates=self.allowed_updates)
        self._fetch = asyncio.ensure_future(self.bot(call, request_timeout=timeout + 30))
        try:
            updates = await self._fetch
        finally:
            self._fetch = None
        self._confirmed = self.offset
        return updates

    async def _handle_batch(self, updates: list[Update]) -> bool:
        """Handle what is new in ``updates`` together and move the offset past every
        update before the first one to be delivered again; True when none is."""
        todo = [u for u in updates if u.update_id not in self._handled]
        outcomes = await asyncio.gather(*(handle_update(self.dp, self.bot, u, self.counts) for u in todo))
        again = [u.update_id for u, ok in zip(todo, outcomes, strict=True) if not ok]
        self._handled.update(u.update_id for u, ok in zip(todo, outcomes, strict=True) if ok)
        self.offset = min(again) if again else updates[-1].update_id + 1
        self._handled = {i for i in self._handled if i >= self.offset}
        return not again

    async def _pause(self, backoff: Backoff) -> None:
        """Sleep the back-off's next delay, or less if the poller is stopped meanwhile."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), next(backoff))

    async def stop(self, task: asyncio.Task[Any]) -> None:
        """Stop ``task`` (running :meth:`run`): the batch in hand may finish, then what
        was handled is confirmed, so a restart does not see it again."""
        self._stopping.set()
        if self._fetch is not None:
            self._fetch.cancel()
        done, _ = await asyncio.wait({task}, timeout=STOP_GRACE)
        if not done:
            log.warning("stopping the bot while updates are still being handled; Telegram will deliver them again")
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if self.offset is not None and self.offset != self._confirmed:
            try:  # a call that returns at once; what it returns stays unconfirmed
                await asyncio.wait_for(self._confirm(), 3)
            except Exception as exc:
                log.info("could not confirm the last updates (%s); Telegram will deliver them again", exc)

    async def _confirm(self) -> None:
        await self.bot(GetUpdates(offset=self.offset, limit=1, timeout=0, allowed_updates=self.allowed_updates))


async def handle_webhook_update(dp: Dispatcher, bot: Bot, body: bytes, counts: UpdateCounts | None = None) -> bool:
    """One update pushed by Telegram; False when it must be delivered again (the
    webhook then answers 503 and Telegram retries).  ValueError: not an update."""
    try:
        update = Update.model_validate(orjson.loads(body), context={"bot": bot})
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise ValueError(f"not a Telegram update: {exc}") from None
    return await handle_update(dp, bot, update, counts)
