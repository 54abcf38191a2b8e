"""Schemathesis against the running app: every operation of the served /api/openapi.json,
with data that fits the document and data that does not, with valid and invalid initData.
Nothing may answer 5xx, and every answer must be one the document promises (a listed
status, its content type, its body schema, its headers); input the document forbids must
be refused with a 4xx.

Schemathesis is synchronous (requests): it runs in a worker thread while the module's
event loop serves the app.  Examples are bounded (EXAMPLES per operation, mode and
authorization) and never shrunk: a failure is recorded as found, with the request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import time
from collections.abc import Callable

import pytest
import requests
import schemathesis
from api_support import app_stack, configure, stack, visit  # noqa: F401  (fixtures)
from conftest import TOKEN
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tondonate.db.migrate import migrate
from tondonate.emulator import sign_init_data

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES = 30  # per operation and mode with valid initData; a third of that with invalid
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,  # input the document forbids gets a 4xx
]
OTHER_TOKEN = "654321:ANOTHER-bot-token"


@pytest.fixture(scope="module")
def api_db_url(tmp_path_factory):
    """SQLite only: the requests go the same way on PostgreSQL (test_api_fuzz.py runs both)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'tondonate.db'}"
    migrate(url)
    return url


@dataclasses.dataclass
class Tally:
    base_url: str
    session: requests.Session = dataclasses.field(default_factory=requests.Session)
    sent: int = 0
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)
    failures: list[str] = dataclasses.field(default_factory=list)

    def send(self, case, where: str) -> None:
        self.sent += 1
        try:
            response = case.call_and_validate(base_url=self.base_url, session=self.session, checks=CHECKS, timeout=10)
        except (AssertionError, FailureGroup) as exc:  # recorded, not raised: no shrinking
            self.failures.append(f"{where}: {exc}")
        else:
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1


def explore(strategy, examples: int, send: Callable) -> None:
    @settings(
        max_examples=examples,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case) -> None:
        send(case)

    run()


def fuzz(base_url: str, authorizations: dict[str, tuple[str | None, int]]) -> Tally:
    """Every operation × mode × authorization."""
    schema = schemathesis.openapi.from_url(base_url + "/api/openapi.json")
    tally = Tally(base_url)
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.POSITIVE]
        if len(operation.query) or len(operation.body):  # something to break
            modes.append(GenerationMode.NEGATIVE)
        for (auth_name, (header, examples)), mode in itertools.product(authorizations.items(), modes):
            headers = {"Authorization": header} if header is not None else None
            strategy = operation.as_strategy(generation_mode=mode, headers=headers)
            where = f"{operation.label} [{mode.value}, {auth_name}]"
            explore(strategy, examples, functools.partial(tally.send, where=where))
    return tally


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
    tally = await asyncio.to_thread(fuzz, base_url, authorizations)
    elapsed = time.monotonic() - started
    statuses = tally.statuses
    print(f"schemathesis: {tally.sent} requests in {elapsed:.1f} s; statuses {dict(sorted(statuses.items()))}")
    assert not tally.failures, "\n\n".join(tally.failures[:10])
    # The examples reached past authentication, and were refused too.
    assert statuses.get(200, 0) >= 50 and statuses.get(400, 0) >= 20 and statuses.get(401, 0) >= 50, statuses
    assert elapsed < 40, elapsed
