"""Support for the API test modules (test_api_*.py, test_openapi.py): one running app per
module and dialect, reset between tests, and helpers that make data through the real paths.

Starting the whole stack (emulator, app, migrations, read model, the polling bot)
costs about a second per dialect, so each module starts it once (``app_stack``),
and ``stack`` (which overrides conftest's function-scoped one in the importing
module) empties every table and rebuilds the read model before each test, which
takes milliseconds.  Import with::

    from api_support import app_stack, api_db_url, stack  # noqa: F401  (fixtures)
    pytestmark = pytest.mark.asyncio(loop_scope="module")
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from conftest import DIALECTS, TOKEN, Stack, with_search_path
from offline import OFFLINE_SETTINGS

from tondonate.api.context import API
from tondonate.db.migrate import migrate
from tondonate.ledger import IncomingPayment
from tondonate.server import appkeys
from tondonate.settings import set_setting
from tondonate.users import Profile

BERLIN = ZoneInfo("Europe/Berlin")
# Children before parents (foreign keys); users references itself, which one DELETE handles.
TABLES = [
    "donations",
    "payments",
    "invoices",
    "user_week_totals",
    "user_totals",
    "referrer_week_totals",
    "referrer_totals",
    "users",
    "settings",
    "rates",
    "sync_state",
]
_charges = itertools.count(1)


@pytest.fixture(scope="module", params=DIALECTS)
def api_db_url(request, tmp_path_factory):
    """A fresh migrated database per module and dialect (as conftest's ``db_url``, module-scoped)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'tondonate.db'}"
    else:
        conn, base = request.getfixturevalue("pg_server")
        schema = f"t_{uuid.uuid4().hex[:16]}"
        conn.execute(f'CREATE SCHEMA "{schema}"')
        request.addfinalizer(lambda: conn.execute(f'DROP SCHEMA "{schema}" CASCADE'))
        url = with_search_path(base, schema)
    migrate(url)
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app_stack(api_db_url):
    from tondonate.config import Config
    from tondonate.emulator import BotAPIEmulator
    from tondonate.server import create_app

    async with BotAPIEmulator(token=TOKEN, bot_username="tondonate_test_bot") as botapi:
        config = Config().replace(
            bot={"token": TOKEN, "api_base": botapi.base_url},
            webapp={"url": "https://example.org/app"},
            db={"url": api_db_url},
            settings=OFFLINE_SETTINGS,
        )
        client = TestClient(TestServer(create_app(config)))
        await client.start_server()
        try:
            yield Stack(client, botapi, client.app)
        finally:
            await client.close()


async def reset(stack: Stack) -> None:
    """Empty every table and rebuild what the app holds in memory from that.  The read
    model's poll loop is stopped meanwhile, so no poll in flight brings back old rows."""
    await stack.model.stop()
    for table in TABLES:
        await stack.db.execute(f"DELETE FROM {table}")
    await stack.app[appkeys.SETTINGS].refresh()
    await stack.model.start()  # a full rebuild, then polling again
    stack.app[API].page_cache.clear()


@pytest_asyncio.fixture(loop_scope="module")
async def stack(app_stack):
    await reset(app_stack)
    return app_stack


# -- making data through the real paths ------------------------------------------------


def berlin(*args) -> int:
    """Unix seconds of a Europe/Berlin wall-clock time: ``berlin(2026, 3, 8, 23, 59, 59)``."""
    return int(datetime(*args, tzinfo=BERLIN).timestamp())


async def configure(stack: Stack, **values) -> None:
    """``configure(stack, **{"leaderboard.page_size": 2})``: stored settings, seen at once."""
    for key, value in values.items():
        await set_setting(stack.db, key, value)
    await stack.app[appkeys.SETTINGS].refresh()


async def visit(stack: Stack, user: dict, **sign) -> dict:
    """The user opens the Mini App (GET /api/me); returns the body."""
    resp = await stack.get("/api/me", user, **sign)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def donate(stack: Stack, user: dict, stars: int, paid_at: int, *, invoice: bool = True) -> str:
    """``user`` pays ``stars`` at ``paid_at``: an invoice made through the API, then the
    successful payment credited by the ledger, as the bot does on successful_payment.
    Returns the charge id.  Call ``stack.settle()`` before reading the boards."""
    payload = None
    if invoice:
        resp = await stack.post("/api/payments/create-invoice", user, {"stars_amount": stars})
        assert resp.status == 200, await resp.text()
        payload = (await resp.json())["invoice_id"]
    charge_id = f"stxTEST{next(_charges)}"
    ledger = stack.app[appkeys.LEDGER]
    result = await ledger.credit(
        IncomingPayment(charge_id, user["id"], payload, stars, "XTR", paid_at, Profile.from_telegram(user))
    )
    assert result.status == "credited", result
    return charge_id


async def error_of(resp, status: int, code: str | None = None) -> dict:
    """Assert a standard error body ``{"error": {"code", "message"}}`` with ``status``; returns the inner object."""
    assert resp.status == status, (resp.status, await resp.text())
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"].replace("_", "").isalpha() and error["code"].islower(), (
        error
    )
    assert isinstance(error["message"], str) and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    return error
