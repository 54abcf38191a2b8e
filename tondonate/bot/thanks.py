"""Thank-you messages after credited payments: off the payment path, within Telegram's limits.

Telegram lets a bot send about 30 messages a second in all (and answers more with
429 Too Many Requests), while payments can arrive far faster.  So a credit only
*queues* its thank-you; one task sends the queue at no more than the setting
``bot.thanks_per_second`` (0 turns them off).  When more than ``MAX_WAITING`` are
waiting, a burst's further thank-yous are skipped and counted in the log: the
payment itself is credited either way, and the Mini App and Telegram's own
receipt already tell the payer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMessage

from ..periodic import Periodic

log = logging.getLogger(__name__)

MAX_WAITING = 1_000
FLUSH_SECONDS = 1.0  # on shutdown, what is still queued gets this long
MAX_RETRY_AFTER = 60.0


class _SendThanks(SendMessage):
    """sendMessage whose answer stays a plain dict: nothing reads the sent Message, and
    aiogram building one (a full pydantic validation) was the largest single cost of
    sending it."""

    __returning__: ClassVar[Any] = dict  # as TelegramMethod declares it; SendMessage's is Message

    # For type checkers only, as aiogram declares SendMessage's: otherwise mypy derives this
    # class's __init__ from the pydantic fields, and takes Field(None, ...) for no default.
    if TYPE_CHECKING:

        def __init__(self, *, chat_id: int, text: str) -> None: ...


class ThankYouSender:
    def __init__(self, bot: Bot, per_second: Callable[[], int], *, max_waiting: int = MAX_WAITING):
        self._bot = bot
        self._per_second = per_second
        self._queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(max_waiting)
        self._skipped = 0
        self._sender = Periodic(
            "thank-you-sender",
            self._send_next,
            lambda: 1 / max(1, self._per_second()),
            log=log,
            failure="sending a thank-you message failed",
            first_delay=0,
        )

    def send(self, chat_id: int, text: str) -> bool:
        """Queue a thank-you; False when it is skipped (turned off, or too many waiting)."""
        if self._per_second() <= 0:
            return False
        try:
            self._queue.put_nowait((chat_id, text))
        except asyncio.QueueFull:
            if not self._skipped:
                log.warning(
                    "more than %d thank-you messages waiting: skipping new ones until the queue drains",
                    self._queue.maxsize,
                )
            self._skipped += 1
            return False
        self._sender.wake()
        return True

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    async def _send_next(self) -> bool:
        """Send one; False once the queue is empty (the sender then waits for the next)."""
        if self._queue.empty():
            return False
        chat_id, text = self._queue.get_nowait()
        await self._deliver(chat_id, text)
        if self._skipped and self._queue.empty():
            log.warning("skipped %d thank-you messages during a burst of payments", self._skipped)
            self._skipped = 0
        return not self._queue.empty()

    async def _deliver(self, chat_id: int, text: str) -> None:
        for attempt in range(2):
            try:
                await self._bot(_SendThanks(chat_id=chat_id, text=text))
                return
            except TelegramRetryAfter as exc:  # flood control: wait as told, then one more try
                if attempt:
                    break
                await asyncio.sleep(min(exc.retry_after, MAX_RETRY_AFTER))
            except Exception as exc:  # a thank-you that fails must not look like a failed payment
                log.info("could not send a thank-you message to %s: %s", chat_id, exc)
                return
        log.info("could not send a thank-you message to %s: Telegram's flood control", chat_id)

    async def close(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        """Send what is queued for up to ``flush_seconds``, then give up on the rest."""
        await self._sender.stop(grace=flush_seconds)
        left = self._queue.qsize() + self._skipped
        if left:
            log.warning("stopping: %d thank-you messages not sent", left)
