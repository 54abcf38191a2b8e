"""Typed keys for the objects shared through the aiohttp application (never module globals)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .botlife import BotState
    from .config import Config
    from .db import Database
    from .settings import SettingsStore

CONFIG: web.AppKey["Config"] = web.AppKey("config")
DB: web.AppKey["Database"] = web.AppKey("db")
SETTINGS: web.AppKey["SettingsStore"] = web.AppKey("settings")
BOT: web.AppKey["BotState"] = web.AppKey("bot")  # .bot, .dispatcher, .ready (see botlife.py)
# Everything else a feature adds (rates, ledger, read model...) goes in SERVICES
# under its own name, so adding a feature does not mean editing this file.
SERVICES: web.AppKey[dict[str, Any]] = web.AppKey("services")
