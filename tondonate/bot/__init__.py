"""The aiogram bot: one Router per feature module, dependencies through workflow data.

Handlers receive ``db``, ``settings`` (the SettingsStore), ``config`` and
``services`` from the dispatcher (``dp["db"]``...), never from globals.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from ..config import Config


def build_bot(config: Config) -> Bot:
    """A Bot talking to ``bot.api_base`` (Telegram, a self-hosted Bot API server, or an emulator)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(config.bot.api_base))
    return Bot(token=config.bot.token, session=session)


def build_dispatcher(**workflow_data: Any) -> Dispatcher:
    from . import payments, start

    dp = Dispatcher(**workflow_data)
    dp.include_routers(start.make_router(), payments.make_router())
    return dp
