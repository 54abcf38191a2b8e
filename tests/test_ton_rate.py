"""The ``ton`` rate provider against local stand-ins of CoinGecko and tonapi (real aiohttp
servers answering in each one's documented shape) and a real SQLite/PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from decimal import Decimal

import pytest
from aiohttp import web

from tondonate.ledger.rate_store import Rate
from tondonate.ledger.rates import RateProvider
from tondonate.settings import SettingError, build_settings, parse_cli_value, validate
from tondonate.settings.values import DEFAULT_TON_SOURCES

D = Decimal
TIMEOUT = 0.3


class PriceSource:
    """A stand-in price API: ``mode`` good | slow | status | html | body; ``price`` is
    written into the real service's documented JSON shape by ``shape``."""

    def __init__(self, path: str, shape) -> None:
        self.path = path
        self.shape = shape
        self.price = "5.2"
        self.mode = "good"
        self.status = 429
        self.body = ""
        self.hits = 0
        self.queries: list[dict[str, str]] = []
        self.url = ""
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        self.queries.append(dict(request.query))
        if self.mode == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 2)
        if self.mode == "status":  # CoinGecko's free tier answers 429 when rate limited
            return web.json_response({"status": {"error_code": 429, "error_message": "rate limited"}}, status=429)
        if self.mode == "html":  # a proxy's or a CDN's error page, with a 200
            return web.Response(text="<html><body>Bad gateway</body></html>", content_type="text/html")
        text = self.body or self.shape(self.price)
        return web.Response(text=text, content_type="application/json")


def coingecko(price: str) -> str:
    # GET /api/v3/simple/price?ids=the-open-network&vs_currencies=usd
    return '{"the-open-network": {"usd": PRICE}}'.replace("PRICE", price)


def tonapi(price: str) -> str:
    # GET /v2/rates?tokens=ton&currencies=usd
    return '{"rates": {"TON": {"prices": {"USD": PRICE}, "diff_24h": {"USD": "-1.2%"}}}}'.replace("PRICE", price)


async def serve(source: PriceSource):
    app = web.Application()
    app.router.add_get(source.path, source.handle)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def gecko():
    source = PriceSource("/api/v3/simple/price", coingecko)
    runner, port = await serve(source)
    source.url = f"http://127.0.0.1:{port}/api/v3/simple/price?ids=the-open-network&vs_currencies=usd"
    yield source
    source.release.set()
    await runner.cleanup()


@pytest.fixture
async def tonapi_io():
    source = PriceSource("/v2/rates", tonapi)
    runner, port = await serve(source)
    source.url = f"http://127.0.0.1:{port}/v2/rates?tokens=ton&currencies=usd"
    yield source
    source.release.set()
    await runner.cleanup()


def sources(*pairs):
    return [{"url": source.url, "path": path} for source, path in pairs]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/down"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def make(db, gecko, tonapi_io):
    """make(**settings) -> started ``ton`` provider over both stand-ins (no rate settings
    but the sources' URLs: everything else is the fresh install's default)."""
    started: list[RateProvider] = []
    clock = Clock()

    async def factory(**values):
        values = {
            "rate.ton_sources": sources((gecko, "the-open-network.usd"), (tonapi_io, "rates.TON.prices.USD")),
            **values,
        }
        snapshot = build_settings({}, {"rate.provider": "ton", **values})
        provider = RateProvider(db, lambda: snapshot, fetch_timeout=TIMEOUT, clock=clock)
        await provider.start()
        started.append(provider)
        return provider

    factory.clock = clock
    yield factory
    for provider in started:
        await provider.stop()


def records(caplog, level, name="tondonate.ledger.rates"):
    return [r.getMessage() for r in caplog.records if r.name == name and r.levelno == level]


# -- the settings


def test_defaults_are_the_documented_sources():
    settings = build_settings({}, {})
    assert settings["rate.star_usd"] == "0.013" and settings["rate.max_spread"] == "0.10"
    assert settings["rate.stale_after_seconds"] == 3600
    assert settings["rate.ton_sources"] == DEFAULT_TON_SOURCES
    assert [s["url"] for s in DEFAULT_TON_SOURCES] == [
        "https://api.coingecko.com/api/v3/simple/price?ids=the-open-network&vs_currencies=usd",
        "https://tonapi.io/v2/rates?tokens=ton&currencies=usd",
    ]


@pytest.mark.parametrize(
    "key, text, message",
    [
        ("rate.star_usd", "0", "> 0"),
        ("rate.star_usd", "-0.013", "> 0"),
        ("rate.star_usd", "NaN", "> 0"),
        ("rate.star_usd", "Infinity", "> 0"),
        ("rate.max_spread", "0", "> 0"),
        ("rate.max_spread", "-0.1", "> 0"),
        ("rate.max_spread", "1.5", "at most 1"),
        ("rate.max_spread", "NaN", "> 0"),
        ("rate.stale_after_seconds", "0", "integer from 60"),
        ("rate.ton_sources", "[]", "1..10"),
        ("rate.ton_sources", '{"url": "https://x.example", "path": "p"}', "JSON list"),
        ("rate.ton_sources", '["https://x.example"]', "item 0"),
        ("rate.ton_sources", '[{"url": "https://x.example"}]', "item 0"),
        ("rate.ton_sources", '[{"url": "https://x.example", "path": "p", "x": 1}]', "item 0"),
        ("rate.ton_sources", '[{"url": "ftp://x.example/p", "path": "p"}]', "not an http(s) URL"),
        ("rate.ton_sources", '[{"url": "https://", "path": "p"}]', "not an http(s) URL"),
        ("rate.ton_sources", '[{"url": "https://[::1", "path": "p"}]', "not an http(s) URL"),
        ("rate.ton_sources", '[{"url": 5, "path": "p"}]', "not a string"),
        ("rate.ton_sources", "[" + ",".join(['{"url": "https://x.example", "path": "p"}'] * 11) + "]", "1..10"),
        ("rate.provider", "coingecko", "ton, static, http_json"),
    ],
)
def test_bad_values_are_refused(key, text, message):
    with pytest.raises(SettingError, match=key) as info:
        parse_cli_value(key, text)
    assert message in str(info.value)


def test_good_values():
    assert parse_cli_value("rate.star_usd", "0.015") == "0.015"
    assert parse_cli_value("rate.max_spread", "1") == "1"
    assert validate("rate.ton_sources", [{"url": " https://x.example/p?k=1 ", "path": " a.0.b "}]) == [
        {"url": "https://x.example/p?k=1", "path": "a.0.b"}
    ]


# -- fetching


async def test_a_fresh_install_quotes_star_usd_over_the_median_price(make, gecko, tonapi_io, db):
    gecko.price, tonapi_io.price = "5.2", "5.3"
    provider = await make()
    quote = await provider.quote()
    # 0.013 / 5.25 (the median of two: their mean), to 34 significant digits
    assert str(quote.tons_per_star) == "0.002476190476190476190476190476190476"
    assert quote.source == "ton:" + " ".join(
        s.replace("ids=the-open-network", "ids=***")
        .replace("vs_currencies=usd", "vs_currencies=***")
        .replace("tokens=ton", "tokens=***")
        .replace("currencies=usd", "currencies=***")
        for s in (gecko.url, tonapi_io.url)
    )
    assert not quote.stale and abs(quote.fetched_at - time.time()) < 5
    assert gecko.queries == [{"ids": "the-open-network", "vs_currencies": "usd"}]
    assert tonapi_io.queries == [{"tokens": "ton", "currencies": "usd"}]
    await provider.flush()
    rows = await db.fetch("SELECT source, tons_per_star FROM rates")
    assert [(r["source"], r["tons_per_star"]) for r in rows] == [(quote.source, str(quote.tons_per_star))]


async def test_star_usd_and_a_cached_quote(make, gecko, tonapi_io):
    gecko.price = tonapi_io.price = "2.6"
    provider = await make(**{"rate.star_usd": "0.026"})
    for _ in range(3):
        assert await provider.get_rate() == D("0.01")
    assert gecko.hits == tonapi_io.hits == 1  # within rate.ttl_seconds


async def test_concurrent_callers_share_one_fetch(make, gecko, tonapi_io):
    provider = await make()
    rates = await asyncio.gather(*(provider.get_rate() for _ in range(20)))
    assert len(set(rates)) == 1 and gecko.hits == tonapi_io.hits == 1


ONE_SOURCE_FAILS = [
    ("slow", "", "timeout after 0.3s"),
    ("status", "", "HTTP 429"),
    ("html", "", "not valid JSON"),
    ("body", '{"the-open-network": {"usd": NaN}}', "not valid JSON"),
    ("body", '{"the-open-network": {"usd": "NaN"}}', "not a number"),
    ("body", '{"the-open-network": {"usd": 0}}', "TON price must be > 0, got 0"),
    ("body", '{"the-open-network": {"usd": -5.2}}', "TON price must be > 0"),
    ("body", '{"the-open-network": {"usd": 1e400}}', "TON price out of range"),
    ("body", '{"the-open-network": {}}', "no key 'usd'"),
    ("body", "{}", "no key 'the-open-network'"),
]


@pytest.mark.parametrize("mode, body, reason", ONE_SOURCE_FAILS, ids=[r for _, _, r in ONE_SOURCE_FAILS])
async def test_one_source_failing_quotes_from_the_other(make, gecko, tonapi_io, caplog, mode, body, reason):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger")
    gecko.mode, gecko.body = ("good", body) if mode == "body" else (mode, "")
    tonapi_io.price = "6.5"
    provider = await make()
    began = time.perf_counter()
    quote = await provider.quote()
    assert time.perf_counter() - began < TIMEOUT + 0.15
    assert quote.tons_per_star == D("0.002") and not quote.stale
    [warning] = records(caplog, logging.WARNING, "tondonate.ledger.ton_rate")
    assert "TON price source failed" in warning and reason in warning, warning
    assert "ids=***" in warning  # the URL is redacted
    assert not records(caplog, logging.WARNING)  # the fetch itself succeeded


async def test_the_other_source_down(make, gecko, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger")
    gecko.price = "6.5"
    provider = await make(**{"rate.ton_sources": sources((gecko, "the-open-network.usd"))
                             + [{"url": closed_port_url(), "path": "rates.TON.prices.USD"}]})  # fmt: skip
    assert await provider.get_rate() == D("0.002")
    [warning] = records(caplog, logging.WARNING, "tondonate.ledger.ton_rate")
    assert "cannot connect" in warning


async def test_both_down_the_stored_rate_then_the_default_with_critical(make, gecko, tonapi_io, db, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger")
    gecko.price = tonapi_io.price = "6.5"
    provider = await make(**{"rate.ttl_seconds": 60})
    fresh = await provider.quote()
    await provider.flush()
    gecko.mode, tonapi_io.mode = "status", "html"
    make.clock.now += 61
    quote = await provider.quote()
    assert quote == Rate(D("0.002"), fresh.source, fresh.fetched_at, True)
    [failed] = records(caplog, logging.WARNING)
    assert "no TON price source answered" in failed and "HTTP 429" in failed and "not valid JSON" in failed
    assert not records(caplog, logging.CRITICAL)

    # Nothing stored (a fresh install whose sources are unreachable): the default, with a CRITICAL.
    await db.execute("DELETE FROM rates")
    caplog.clear()
    fresh_install = await make(**{"rate.default_tons_per_star": "0.0025"})
    assert await fresh_install.quote() == Rate(D("0.0025"), "default", 0, True)
    [critical] = records(caplog, logging.CRITICAL)
    assert "rate.default_tons_per_star=0.0025" in critical


async def test_a_source_off_the_median_is_ignored(make, gecko, tonapi_io, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger")
    third = PriceSource("/v2/rates", tonapi)
    runner, port = await serve(third)
    try:
        third.url = f"http://127.0.0.1:{port}/v2/rates?tokens=ton&currencies=usd"
        gecko.price, tonapi_io.price, third.price = "6.4", "6.6", "9.9"
        provider = await make(
            **{
                "rate.ton_sources": sources(
                    (gecko, "the-open-network.usd"),
                    (tonapi_io, "rates.TON.prices.USD"),
                    (third, "rates.TON.prices.USD"),
                )
            }
        )
        # median 6.6; 9.9 is 50 % off it: ignored; the price is the median of 6.4 and 6.6
        assert await provider.get_rate() == D("0.002")
        [ignored] = records(caplog, logging.WARNING, "tondonate.ledger.ton_rate")
        assert "off the median" in ignored and f"127.0.0.1:{port}" in ignored and "price=9.9" in ignored
    finally:
        await runner.cleanup()


async def test_two_sources_that_disagree_are_a_failed_fetch(make, gecko, tonapi_io, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger")
    gecko.price, tonapi_io.price = "5", "7"  # each 16.7 % off their mean: neither can be trusted
    provider = await make(**{"rate.default_tons_per_star": "0.0025"})
    assert (await provider.quote()).source == "default"
    assert "disagree by more than max_spread 0.10" in records(caplog, logging.WARNING)[0]
    assert len(records(caplog, logging.WARNING, "tondonate.ledger.ton_rate")) == 2
    loose = await make(**{"rate.max_spread": "0.2"})
    assert await loose.get_rate() == D("0.002166666666666666666666666666666667")  # 0.013 / 6


async def test_a_rate_above_the_bound_is_refused(make, gecko, tonapi_io, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger")
    gecko.price = tonapi_io.price = "0.00001"  # 0.013 / 0.00001 = 1300 tons per Star
    provider = await make()
    assert (await provider.quote()).source == "default"
    [error] = records(caplog, logging.ERROR)
    assert "above the bound of 1000 tons per Star" in error


async def test_a_stale_rate_in_use_is_a_warning_once(make, gecko, tonapi_io, db, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger")
    old = int(time.time()) - 7200
    await db.execute("INSERT INTO rates (fetched_at, source, tons_per_star) VALUES ($1, $2, $3)", old, "ton:x", "0.002")
    gecko.mode = tonapi_io.mode = "status"
    provider = await make()
    for _ in range(3):
        assert await provider.quote() == Rate(D("0.002"), "ton:x", old, True)
    [stale] = [m for m in records(caplog, logging.WARNING) if "stale" in m]
    assert "fetched 7200 s ago (rate.stale_after_seconds=3600)" in stale or "fetched 7201 s ago" in stale
    caplog.clear()
    patient = await make(**{"rate.stale_after_seconds": 86_400})
    await patient.quote()
    assert not [m for m in records(caplog, logging.WARNING) if "stale" in m]


# -- the Mini App's view: GET /api/config


async def test_api_config_quotes_the_ton_rate_with_its_age(
    aiohttp_client, make_config, botapi, gecko, tonapi_io, db, caplog
):
    """A fresh install (no rate settings but where the stand-ins are) quotes 0.013 / the TON
    price and tells the Mini App the rate's age; restarted with both sources down, the stored
    rate and its age, past rate.stale_after_seconds: a WARNING."""
    from conftest import Stack

    from tondonate.server import create_app

    caplog.set_level(logging.WARNING, logger="tondonate.ledger")
    gecko.price = tonapi_io.price = "5.2"
    ton_sources = sources((gecko, "the-open-network.usd"), (tonapi_io, "rates.TON.prices.USD"))
    # make_config puts tests on the static rate: back to the fresh install's default provider
    config = make_config().replace(settings={"rate.provider": "ton", "rate.ton_sources": ton_sources})
    alice = {"id": 1, "is_bot": False, "first_name": "Alice", "language_code": "ru"}

    async def get_config(stack):
        resp = await stack.get("/api/config", alice)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    first = await aiohttp_client(create_app(config))
    stack = Stack(first, botapi, first.app)
    body = await get_config(stack)
    assert body["tons_per_star"] == "0.0025"  # 0.013 / 5.2
    assert body["rate_age_seconds"] in (0, 1)
    await first.close()  # stops the rate provider: the fetched rate is stored

    await db.execute("UPDATE rates SET fetched_at = fetched_at - 4000")  # the same database, as it ages
    gecko.mode = tonapi_io.mode = "status"
    second = await aiohttp_client(create_app(config))
    restarted = Stack(second, botapi, second.app)
    body = await get_config(restarted)
    assert body["tons_per_star"] == "0.0025" and 4000 <= body["rate_age_seconds"] <= 4002
    [stale] = [m for m in records(caplog, logging.WARNING) if "stale" in m]
    assert "fetched 400" in stale and "rate.stale_after_seconds=3600" in stale
