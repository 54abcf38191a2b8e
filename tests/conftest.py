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
