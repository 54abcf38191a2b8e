"""Shared fixtures: a fresh migrated database, a settings snapshot."""

from __future__ import annotations

import asyncio

import pytest

from tondonate.db import open_database
from tondonate.db.migrate import migrate
from tondonate.settings import build_settings


@pytest.fixture
def db_url(tmp_path):
    """URL of a fresh, migrated SQLite database file."""
    url = f"sqlite:///{tmp_path / 'tondonate.db'}"
    migrate(url)
    return url


@pytest.fixture
async def db(db_url):
    """A started :class:`Database` on a fresh migrated database."""
    database = open_database(db_url)
    await database.start()
    yield database
    await database.stop()


@pytest.fixture
def settings():
    """Factory: ``settings(**{"tons.decimals": 3})`` -> a Settings snapshot (database layer)."""

    def make(**values):
        return build_settings({}, values)

    return make


# -- the whole server against the Bot API emulator ------------------------------------

TOKEN = "123456:TEST-token"


@pytest.fixture
async def botapi():
    """A running Bot API emulator (Telegram's stand-in; the bot talks to it over HTTP)."""
    from tondonate.emulator import BotAPIEmulator

    async with BotAPIEmulator(token=TOKEN, bot_username="tondonate_test_bot") as emu:
        yield emu


@pytest.fixture
def make_config(db_url, botapi):
    """Factory: a Config pointing at the fresh database and the emulator."""
    from tondonate.config import Config

    def make(**sections):
        config = Config().replace(
            bot={"token": TOKEN, "api_base": botapi.base_url},
            webapp={"url": "https://example.org/app"},
            db={"url": db_url},
        )
        return config.replace(**sections) if sections else config

    return make


class Stack:
    """The running app (HTTP client + real polling bot) and the emulator, with helpers."""

    def __init__(self, client, botapi, app):
        self.client = client
        self.botapi = botapi
        self.app = app

    @property
    def db(self):
        from tondonate import appkeys

        return self.app[appkeys.DB]

    @property
    def model(self):
        from tondonate.api.context import READ_MODEL

        return self.app[READ_MODEL]

    def user(self, tg_id, **fields):
        user = {"id": tg_id, "is_bot": False, "first_name": fields.pop("first_name", f"User{tg_id}"), "language_code": "ru", **fields}
        return user

    def auth(self, user, **kwargs):
        from tondonate.emulator import sign_init_data

        return {"Authorization": "tma " + sign_init_data(TOKEN, user, **kwargs)}

    async def get(self, path, user=None, **kwargs):
        headers = self.auth(user, **kwargs) if user is not None else {}
        return await self.client.get(path, headers=headers)

    async def post(self, path, user, body, **kwargs):
        return await self.client.post(path, headers=self.auth(user, **kwargs), json=body)

    async def settle(self):
        """Wait until the read model has applied everything written so far."""
        await self.model.poll()


@pytest.fixture
async def stack(aiohttp_client, make_config, botapi):
    from tondonate.app import create_app

    app = create_app(make_config())
    client = await aiohttp_client(app)
    return Stack(client, botapi, app)
