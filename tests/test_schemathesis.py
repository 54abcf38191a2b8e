"""Schemathesis against the running app: every operation of the served /api/openapi.json,
with data that fits the document and data that does not, with valid and invalid initData.
Nothing may answer 5xx, and every answer must be one the document promises (a listed
status, its content type, its body schema, its headers); input the document forbids must
be refused with a 4xx.

Schemathesis is synchronous (requests): it runs in a worker thread while the module's
event loop serves the app.  Examples are bounded (EXAMPLES per operation, mode and
authorization) and never shrunk: a failure is recorded as found, with the request.
The run itself is bench/hostile.py's :func:`schemathesis_run`, which the chaos bench
points at a real ``serve``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from api_support import app_stack, configure, stack, visit  # noqa: F401  (fixtures)
from conftest import TOKEN

from tondonate.db.migrate import migrate
from tondonate.emulator import sign_init_data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from hostile import OTHER_TOKEN, schemathesis_run

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES = 30  # per operation and mode with valid initData; a third of that with invalid


@pytest.fixture(scope="module")
def api_db_url(tmp_path_factory):
    """SQLite only: the requests go the same way on PostgreSQL (test_api_fuzz.py runs both)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'tondonate.db'}"
    migrate(url)
    return url


async def test_schemathesis_finds_nothing(stack):
    await configure(stack, **{"limits.invoices_per_minute": 10_000})
    user = stack.user(4242, username="fuzzer")
    await visit(stack, user)
    for tg_id in (1, 2, 3):  # referrers a generated referrer_id may hit
        await visit(stack, stack.user(tg_id))
    now = int(time.time())
    authorizations = {
        "valid initData": ("tma " + sign_init_data(TOKEN, user), EXAMPLES),
        "a new user's initData": ("tma " + sign_init_data(TOKEN, stack.user(4343), start_param="ref_1"), EXAMPLES),
        "no Authorization": (None, EXAMPLES // 3),
        "another bot's initData": ("tma " + sign_init_data(OTHER_TOKEN, user), EXAMPLES // 3),
        "expired initData": ("tma " + sign_init_data(TOKEN, user, auth_date=now - 10**6), EXAMPLES // 3),
        "garbage": ("tma not-init-data", EXAMPLES // 3),
    }
    base_url = str(stack.client.make_url("")).rstrip("/")
    started = time.monotonic()
    result = await asyncio.to_thread(schemathesis_run, base_url, authorizations)
    elapsed = time.monotonic() - started
    statuses = result.statuses
    print(f"schemathesis: {result.requests} requests in {elapsed:.1f} s; statuses {dict(sorted(statuses.items()))}")
    assert not (result.server_errors or result.schema_violations), "\n\n".join(result.details[:10])
    # The examples reached past authentication, and were refused too.
    assert statuses.get(200, 0) >= 50 and statuses.get(400, 0) >= 20 and statuses.get(401, 0) >= 50, statuses
    assert elapsed < 40, elapsed
