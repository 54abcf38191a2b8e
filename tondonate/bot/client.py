"""The aiogram Bot and Dispatcher: one Router per feature module, dependencies
through workflow data.

Handlers receive ``db``, ``settings`` (the SettingsStore), ``config``, ``ledger``
and ``thanks`` from the dispatcher (``dp["db"]``...), never from globals.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods.base import Response, TelegramMethod, TelegramType

from ..config import Config

# aiogram validates every answer as ``Response[<result type>]``; pydantic keeps such
# parametrized classes in a weak cache, so between garbage collections they died and
# were rebuilt (schema and all, ~10-20 ms each): about one sendMessage in forty paid
# that.  Holding each one here keeps it cached.
_RESPONSE_TYPES: dict[Any, Any] = {}


class _Session(AiohttpSession):
    """aiogram's ``close()`` sleeps 250 ms so TLS connections can shut down cleanly;
    over plain HTTP (a local Bot API server, the emulator) there is nothing to wait
    for, and every CLI command and server stop paid that quarter second."""

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in _RESPONSE_TYPES:
            # A class parametrized at run time, with a value mypy cannot read as a type.
            _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot=bot, method=method, status_code=status_code, content=content)

    async def close(self) -> None:
        if self.api.base.lower().startswith("https://"):
            await super().close()
        elif self._session is not None and not self._session.closed:
            await self._session.close()


def build_bot(config: Config) -> Bot:
    """A Bot talking to ``bot.api_base`` (Telegram, a self-hosted Bot API server, or an emulator)."""
    session = _Session(
        api=TelegramAPIServer.from_base(config.bot.api_base),
        # orjson parses a getUpdates batch several times faster than the json module
        json_loads=orjson.loads,
        json_dumps=lambda value: orjson.dumps(value).decode(),
    )
    return Bot(token=config.bot.token, session=session)


def build_dispatcher(**workflow_data: Any) -> Dispatcher:
    from . import payments, start

    dp = Dispatcher(disable_fsm=True, **workflow_data)  # no conversation state: one middleware less per update
    # Payments first: the busiest updates stop at the first router that takes them.
    dp.include_routers(payments.make_router(), start.make_router())
    return dp
