"""Shared fixtures: a fresh migrated database (SQLite and PostgreSQL), a settings snapshot.

``db_url`` and ``db`` are parametrized by dialect, so every test that uses them
runs twice: ``[sqlite]`` and ``[postgresql]``.  The PostgreSQL server is
``$TONDONATE_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each test gets a fresh schema of its own (``CREATE SCHEMA t_<random>``, selected
through ``?options=-csearch_path%3D<schema>`` in the URL, which asyncpg, psycopg
and yoyo all honour), migrated by the real migrations and dropped afterwards.
Creating, migrating and dropping schemas costs a few tenths of a second each,
so worker processes prepare the next few migrated schemas and drop used ones
while tests run (``pg_schemas.py``).

Unreachable server: with ``TONDONATE_TEST_PG_URL`` unset the PostgreSQL cases
skip (saying why); with it set (CI) they fail.  ``-m "not postgresql"``
deselects them.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest
from offline import OFFLINE_SETTINGS
from pg_schemas import SchemaMaker, new_schema_name, schema_url, with_search_path  # noqa: F401  (with_search_path: for test modules)

from tondonate.db import open_database
from tondonate.db.migrate import migrate
from tondonate.settings import build_settings
from tondonate.settings.values import DEFAULT_TON_SOURCES

pytest_plugins = ["pytester"]

PG_URL_ENV = "TONDONATE_TEST_PG_URL"
PG_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
]


def pytest_configure(config):
    config.addinivalue_line("markers", "postgresql: runs against the PostgreSQL test server")


# -- no test asks the internet for the TON price (tests/offline.py) -------------------

_TON_HOSTS = frozenset(urlsplit(source["url"]).hostname for source in DEFAULT_TON_SOURCES)
_ton_lookups: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def _no_ton_price_sources():
    """A name lookup of a real TON price source fails (as offline) and fails the test."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name in _TON_HOSTS:
            _ton_lookups.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"tests do not go to the internet ({name})")
        return real(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


@pytest.fixture(autouse=True)
def _stayed_offline():
    _ton_lookups.clear()
    yield
    assert not _ton_lookups, f"the test asked a TON price source {sorted(set(_ton_lookups))}: use tests/offline.py"


@pytest.fixture(scope="session")
def pg_server():
    """A psycopg admin connection to the PostgreSQL test server and its URL; skips (or fails) when unreachable."""
    configured = os.environ.get(PG_URL_ENV, "").strip()
    url = configured or PG_DEFAULT_URL
    try:
        import psycopg

        conn = psycopg.connect(url, autocommit=True, connect_timeout=3)
        conn.execute("SELECT 1")
    except Exception as exc:  # ImportError, OperationalError, ...
        from tondonate.redact import redact_url

        detail = " ".join(str(exc).split())  # one line
        reason = f"PostgreSQL test server {redact_url(url, keep_user=True)} unreachable: {type(exc).__name__}: {detail}"
        if configured:
            pytest.fail(f"{reason} ({PG_URL_ENV} is set, so this is an error)", pytrace=False)
        pytest.skip(f"{reason} (set {PG_URL_ENV} to require it)")
    yield conn, url
    conn.close()


@pytest.fixture(scope="session")
def pg_schemas(pg_server):
    """Fresh migrated schemas made ahead (and used ones dropped) by worker processes."""
    maker = SchemaMaker(pg_server[1])
    yield maker
    maker.close()


@pytest.fixture
def new_pg_url(pg_server):
    """Factory: the URL of a fresh, empty PostgreSQL schema (not migrated), dropped after the test."""
    conn, url = pg_server
    schemas = []

    def make() -> str:
        name = new_schema_name()
        conn.execute(f'CREATE SCHEMA "{name}"')
        schemas.append(name)
        return schema_url(url, name)

    yield make
    for name in schemas:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture(params=DIALECTS)
def dialect(request):
    return request.param


@pytest.fixture
def new_migrated_pg_url(pg_schemas):
    """Factory: the URL of a fresh PostgreSQL schema migrated by the real migrations, dropped after the test."""
    taken = []

    def make() -> str:
        name, url = pg_schemas.take()
        taken.append(name)
        return url

    yield make
    for name in taken:
        pg_schemas.release(name)


@pytest.fixture
def db_url(dialect, request, tmp_path):
    """URL of a fresh, migrated database of each dialect: a SQLite file, a PostgreSQL schema."""
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'tondonate.db'}"
        migrate(url)
        return url
    return request.getfixturevalue("new_migrated_pg_url")()


@pytest.fixture
async def db(db_url):
    """A started :class:`Database` on a fresh migrated database."""
    database = open_database(db_url)
    await database.start()
    yield database
    await database.stop()


@pytest.fixture
def settings():
    """Factory: ``settings(**{"tons.decimals": 3})`` -> a Settings snapshot (database layer),
    on the static rate provider unless told otherwise (tests/offline.py)."""

    def make(**values):
        return build_settings(OFFLINE_SETTINGS, values)

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
            settings=OFFLINE_SETTINGS,
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
        from tondonate.server import appkeys

        return self.app[appkeys.DB]

    @property
    def model(self):
        from tondonate.api.context import API

        return self.app[API].model

    def user(self, tg_id, **fields):
        user = {
            "id": tg_id,
            "is_bot": False,
            "first_name": fields.pop("first_name", f"User{tg_id}"),
            "language_code": "ru",
            **fields,
        }
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
    from tondonate.server import create_app

    app = create_app(make_config())
    client = await aiohttp_client(app)
    return Stack(client, botapi, app)


# -- a small, real dataset (made through the ledger and users code) -------------------

WEEK = 7 * 86_400
DATASET_START = 1_718_000_000  # a Monday-ish moment in June 2024; weeks follow from week.timezone


@pytest.fixture
def make_dataset(settings):
    """Factory: ``await make_dataset(db)`` fills ``db`` through the real code paths.

    Users with referrals (1 refers 2 and 3, 2 refers 4, 7 refers 6; 5 is blocked), payments
    credited by :class:`~tondonate.ledger.Ledger` over two weeks (one with an
    invoice, the rest at the static rate), one refund, and a few rows in the
    side tables.  Returns the ledger's settings snapshot.
    """
    from tondonate.ledger import IncomingPayment, open_ledger
    from tondonate.ledger.referrals import ensure_user
    from tondonate.settings import set_setting
    from tondonate.users import Profile, set_blocked

    async def make(db):
        snapshot = settings()
        t = DATASET_START
        profiles = {i: Profile(i, username=f"user{i}", first_name=f"User {i}", language_code="en") for i in range(1, 8)}
        await ensure_user(db, profiles[1], now=t)
        await ensure_user(db, profiles[2], ref_code=1, now=t + 1)
        await ensure_user(db, profiles[3], ref_code=1, now=t + 2)
        await ensure_user(db, profiles[4], ref_code=2, now=t + 3)
        await ensure_user(db, profiles[5], now=t + 4)
        await ensure_user(db, profiles[7], now=t + 5)
        await ensure_user(db, profiles[6], ref_code=7, now=t + 6)  # referred by a higher id
        await set_blocked(db, 5, True)
        await db.execute(
            "INSERT INTO invoices (id, tg_id, stars_amount, preset_id, tons_per_star, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            "inv-1",
            2,
            100,
            "place1",
            "1.5",
            t + 10,
        )
        async with open_ledger(db, lambda: snapshot, clock=lambda: t + 100) as ledger:
            await _pay(ledger, t, profiles)
        await set_setting(db, "tons.decimals", 3)
        await db.execute("INSERT INTO rates (fetched_at, source, tons_per_star) VALUES ($1, $2, $3)", t, "static", "1")
        await db.execute("INSERT INTO sync_state (name, value, updated_at) VALUES ($1, $2, $3)", "probe", "42", t)
        return snapshot

    async def _pay(ledger, t, profiles):
        payments = [
            ("ch-1", 2, "inv-1", 100, t + 20),
            ("ch-2", 3, None, 50, t + 30),
            ("ch-3", 4, None, 25, t + 40),
            ("ch-4", 1, None, 10, t + 50),
            ("ch-5", 2, None, 7, t + WEEK + 60),
            ("ch-6", 4, None, 3, t + WEEK + 70),
            ("ch-7", 6, None, 11, t + WEEK + 80),
        ]
        for charge_id, tg_id, payload, stars, paid_at in payments:
            result = await ledger.credit(
                IncomingPayment(charge_id, tg_id, payload, stars, "XTR", paid_at, profiles[tg_id], raw={"n": stars})
            )
            assert result.status == "credited", result
        assert await ledger.refund("ch-2", refunded_at=t + 200) == "refunded"

    return make
