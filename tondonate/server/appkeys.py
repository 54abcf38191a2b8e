"""Typed keys for the objects the server's parts share through the aiohttp application
(never module globals).  Each is set by the cleanup context that opens it (app.py)."""

from __future__ import annotations

from aiohttp import web

from ..bot.handle import BotHandle
from ..config import Config
from ..db import Database
from ..ledger import Ledger
from ..readmodel import ReadModel
from ..settings import SettingsStore
from .httpstats import HttpStats

CONFIG = web.AppKey("config", Config)
DB = web.AppKey("db", Database)
SETTINGS = web.AppKey("settings", SettingsStore)
LEDGER = web.AppKey("ledger", Ledger)  # its rate provider: LEDGER's .rates
MODEL = web.AppKey("read_model", ReadModel)
BOT = web.AppKey("bot", BotHandle)  # from the start; its Bot once started (see botlife.py)
HTTP_STATS = web.AppKey("http_stats", HttpStats)  # from the start; counted by http.py's access-log hook
