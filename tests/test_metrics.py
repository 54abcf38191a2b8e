"""GET /metrics: the numbers move as payments flow through the real bot (long-polling the
emulator) and requests through the real runner (server/http.py's access-log hook), and
only the allowed clients get them."""

from __future__ import annotations

import logging
from unittest import mock

import pytest
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from conftest import Stack
from ledger_support import eventually
from prometheus_client.parser import text_string_to_metric_families
from test_payments import invoice, refunded_update, thanks, visit

from tondonate.ledger import IncomingPayment
from tondonate.ledger.reconcile import STATE_KEY, reconcile
from tondonate.server import appkeys, create_app
from tondonate.server.http import HttpRunner
from tondonate.server.metrics import REGISTRY, metrics, metrics_allowed
from tondonate.settings import set_setting
from tondonate.users import Profile


class HttpTestServer(TestServer):
    """aiohttp's test server with serve's runner: requests are counted as in production."""

    async def _make_runner(self, **kwargs):
        return HttpRunner(self.app, self.app[appkeys.CONFIG].http, **kwargs)


@pytest.fixture
async def served(make_config, botapi):
    async def start(**sections):
        app = create_app(make_config(**sections))
        client = TestClient(HttpTestServer(app))
        await client.start_server()
        started.append(client)
        return Stack(client, botapi, app)

    started: list[TestClient] = []
    yield start
    for client in started:
        await client.close()


async def scrape(stack, headers=None) -> dict[tuple[str, tuple], float]:
    """Every sample of GET /metrics: (name, sorted labels) -> value."""
    response = await stack.client.get("/metrics", headers=headers or {})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for s in family.samples:
            samples[s.name, tuple(sorted(s.labels.items()))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_as_payments_and_requests_flow(served, caplog):
    caplog.set_level(logging.INFO, logger="tondonate")
    stack = await served()
    emu = stack.botapi
    await emu.wait_for_call("getUpdates")
    await eventually(
        lambda: stack.db.fetchval("SELECT value FROM sync_state WHERE name = $1", STATE_KEY),
        what="the start-up reconcile",
    )
    before = await scrape(stack)
    assert value(before, "tondonate_payments_credited_total") == 0
    assert value(before, "tondonate_rate_tons_per_star") == 1  # the static rate's default
    assert value(before, "tondonate_rate_age_seconds") == 0
    assert value(before, "process_cpu_seconds_total") > 0  # the process collector

    payer = stack.user(700)
    await visit(stack, payer)
    quote = await invoice(stack, payer, 30)
    outcome = await emu.pay(payer, quote["invoice_link"])
    await thanks(stack, 700)
    emu.deliver_successful_payment(payer, quote["invoice_id"], 30, outcome.charge_id)  # delivered again
    await eventually(lambda: [r for r in caplog.records if "payment duplicate" in r.getMessage()], what="duplicate")
    await stack.app[appkeys.BOT].bot.refund_star_payment(user_id=700, telegram_payment_charge_id=outcome.charge_id)
    emu.push_update(refunded_update(payer, outcome.charge_id, 30, quote["invoice_id"]))  # a repeated refund
    await eventually(
        lambda: [r for r in caplog.records if "payment refund duplicate" in r.getMessage()], what="the refunds"
    )
    assert (await stack.get("/api/no-such-route-xyz", payer)).status == 404
    await stack.settle()

    after = await scrape(stack)
    assert value(after, "tondonate_payments_credited_total") == 1
    assert value(after, "tondonate_payments_duplicate_total") == 1
    assert value(after, "tondonate_stars_credited_total") == 30
    assert value(after, "tondonate_refunds_total") == 1  # the repeated delivery refunds nothing
    assert value(after, "tondonate_invoices_created_total") == 1
    assert value(after, "tondonate_bot_updates_total", type="pre_checkout_query") == 1
    assert value(after, "tondonate_bot_updates_total", type="successful_payment") == 2
    assert value(after, "tondonate_bot_updates_total", type="refunded_payment") == 2
    assert 0 <= value(after, "tondonate_bot_last_update_age_seconds") < 5
    assert value(after, "tondonate_users") == 1
    assert 0 <= value(after, "tondonate_readmodel_lag_seconds") < 5

    # Requests by route pattern and status, with their durations; a raw path never becomes a label.
    assert value(after, "tondonate_http_requests_total", route="/api/me", status="200") == 1
    assert value(after, "tondonate_http_requests_total", route="/api/payments/create-invoice", status="200") == 1
    assert value(after, "tondonate_http_requests_total", route="/{tail}", status="404") == 1
    assert value(after, "tondonate_http_requests_total", route="/metrics", status="200") == 1  # the first scrape
    assert value(after, "tondonate_http_request_duration_seconds_count", route="/api/me") == 1
    assert value(after, "tondonate_http_request_duration_seconds_bucket", route="/api/me", le="+Inf") == 1
    assert 0 < value(after, "tondonate_http_request_duration_seconds_sum", route="/api/me") < 5
    assert not any("xyz" in str(labels) for _name, labels in after)


async def test_reconcile_fixes_and_failed_rate_fetches_are_counted(served):
    stack = await served()
    ledger = stack.app[appkeys.LEDGER]

    class Telegram:  # getStarTransactions with one payment the bot never saw
        async def page(self, offset, limit):
            if offset:
                return []
            return [IncomingPayment("missed-charge", 701, None, 5, "XTR", 1_700_000_000, Profile(701))]

    await reconcile(ledger, Telegram(), full=True)
    await set_setting(stack.db, "rate.provider", "http_json")
    await set_setting(stack.db, "rate.url", "http://127.0.0.1:9/rate?key=SECRET")  # nothing listens there
    await set_setting(stack.db, "rate.json_path", "price")
    await stack.app[appkeys.SETTINGS].refresh()
    await ledger.rates.get_rate()

    samples = await scrape(stack)
    assert value(samples, "tondonate_reconcile_fixed_total") >= 1
    assert value(samples, "tondonate_payments_credited_total") >= 1
    failures = {
        dict(labels)["source"]: v
        for (name, labels), v in samples.items()
        if name.startswith("tondonate_rate_fetch_failures_total")
    }
    assert failures == {"http://127.0.0.1:9/rate?key=***": 1}  # the key never reaches the metrics


async def test_only_loopback_clients_without_a_token(served):
    assert metrics_allowed("127.0.0.1", None, "")
    assert metrics_allowed("127.8.9.10", None, "")
    assert metrics_allowed("::1", None, "")
    assert metrics_allowed("::ffff:127.0.0.1", None, "")
    for remote in ("203.0.113.5", "10.0.0.1", "::ffff:203.0.113.5", "2001:db8::1", "", None, "not-an-ip"):
        assert not metrics_allowed(remote, None, ""), remote
    # Through a reverse proxy on this host: the peer is loopback, the client is not.
    assert not metrics_allowed("127.0.0.1", None, "", proxied=True)
    assert metrics_allowed("127.0.0.1", "Bearer t", "t", proxied=True)

    stack = await served()
    await scrape(stack)  # the test client connects from 127.0.0.1

    # The handler decides on the connection's peer: the same request from another address is refused.
    far = make_mocked_request("GET", "/metrics", app=stack.app, transport=_transport(("203.0.113.5", 40000)))
    with pytest.raises(Exception) as refused:
        await metrics(far)
    assert refused.value.status == 403 and b'"forbidden"' in refused.value.body
    near = make_mocked_request("GET", "/metrics", app=stack.app, transport=_transport(("127.0.0.1", 40000)))
    assert (await metrics(near)).status == 200
    # Through nginx on this host: a loopback peer, but the request names a client behind it.
    response = await stack.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
    assert response.status == 403


async def test_a_token_is_needed_from_everyone_once_set(served):
    assert metrics_allowed("203.0.113.5", "Bearer s3cret-token", "s3cret-token")
    assert not metrics_allowed("127.0.0.1", None, "s3cret-token")
    assert not metrics_allowed("127.0.0.1", "Bearer wrong", "s3cret-token")
    assert not metrics_allowed("127.0.0.1", "s3cret-token", "s3cret-token")

    stack = await served(metrics={"token": "s3cret-token"})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
        response = await stack.client.get("/metrics", headers=headers)
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "forbidden"
    samples = await scrape(stack, {"Authorization": "Bearer s3cret-token"})
    assert value(samples, "tondonate_http_requests_total", route="/metrics", status="403") == 3

    far = make_mocked_request(
        "GET",
        "/metrics",
        headers={"Authorization": "Bearer s3cret-token"},
        app=stack.app,
        transport=_transport(("203.0.113.5", 40000)),
    )
    assert (await metrics(far)).status == 200


def test_each_app_has_its_own_registry(make_config):
    first, second = create_app(make_config()), create_app(make_config())
    assert first[REGISTRY] is not second[REGISTRY]


def _transport(peer):
    """A transport that reports ``peer`` as the connection's far end (no connection is made)."""
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: peer if name == "peername" else default
    return transport


async def test_one_debug_line_per_request_and_none_above_debug(served, caplog):
    caplog.set_level(logging.INFO, logger="tondonate.http")
    quiet = await served()
    assert (await quiet.client.get("/healthz?initData=x")).status == 200
    caplog.set_level(logging.DEBUG, logger="tondonate.http")  # a connection reads the level when it opens
    loud = await served()
    assert (await loud.client.get("/healthz?initData=x")).status == 200
    lines = await eventually(lambda: [r.getMessage() for r in caplog.records if r.name == "tondonate.http"])
    assert len(lines) == 1, lines
    assert "method=GET route=/healthz path=/healthz status=200 seconds=" in lines[0]
    assert "initData" not in lines[0]  # no query
