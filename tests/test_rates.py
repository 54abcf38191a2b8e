"""RateProvider against a real local HTTP server (the rate source) and a real SQLite database."""

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
from tondonate.redact import redact_url

D = Decimal
TIMEOUT = 0.3  # fetch_timeout of the providers under test: keeps the slow cases fast


class Source:
    """The rate source: a real aiohttp server whose answer the test switches."""

    def __init__(self) -> None:
        self.mode = "good"  # good | slow | status | garbage
        self.body = '{"price": "0.0125"}'
        self.status = 500
        self.delay = 0.0
        self.hits = 0
        self.url = ""
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        if self.mode == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 2)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "status":
            return web.Response(status=self.status, text='{"price": "1"}', content_type="application/json")
        if self.mode == "garbage":
            return web.Response(text="<html>rate limited</html>", content_type="text/html")
        return web.Response(text=self.body, content_type="application/json")


@pytest.fixture
async def source():
    src = Source()
    app = web.Application()
    app.router.add_get("/{tail:.*}", src.handle)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    src.url = f"http://127.0.0.1:{port}/rate"
    yield src
    src.release.set()
    await runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Knobs:
    """Settings the test can change while a provider runs (like `tondonate config set`)."""

    def __init__(self, factory, **values) -> None:
        self.factory = factory
        self.values = values
        self.current = factory(**values)

    def set(self, **values) -> None:
        self.values.update(values)
        self.current = self.factory(**self.values)

    def __call__(self):
        return self.current


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
async def make(db, settings, source, clock):
    """make(**settings) -> (started provider, knobs); every provider is stopped at the end."""
    started: list[RateProvider] = []

    async def factory(database=None, **values):
        knobs = Knobs(
            settings,
            **{"rate.provider": "http_json", "rate.url": source.url, "rate.json_path": "price", **values},
        )
        provider = RateProvider(database or db, knobs, fetch_timeout=TIMEOUT, clock=clock)
        await provider.start()
        started.append(provider)
        return provider, knobs

    yield factory
    for provider in started:
        await provider.stop()


def w(**values):
    """Settings keys have dots: w(rate__url=...) is awkward, so tests pass dicts through this."""
    return {key.replace("__", "."): value for key, value in values.items()}


async def stored(db):
    rows = await db.fetch("SELECT fetched_at, source, tons_per_star FROM rates ORDER BY fetched_at")
    return [(row["source"], row["tons_per_star"]) for row in rows]


def records(caplog, level):
    return [r for r in caplog.records if r.name == "tondonate.ledger.rates" and r.levelno == level]


# -- success paths


async def test_fetch_keeps_json_numbers_exact_and_stores_each_fetch(make, source, db):
    source.body = '{"data": [{"price": 0.1}, {"price": 7}]}'
    provider, _ = await make(**w(rate__json_path="data.0.price"))
    quote = await provider.quote()
    assert quote.tons_per_star == D("0.1") and str(quote.tons_per_star) == "0.1"  # not 0.1000000000000000055...
    assert quote.source == source.url and quote.stale is False
    assert abs(quote.fetched_at - time.time()) < 5
    await provider.flush()
    assert await stored(db) == [(source.url, "0.1")]
    last = await provider.last_stored()
    assert last is not None and last.tons_per_star == D("0.1") and last.source == source.url
    assert last.fetched_at == quote.fetched_at and last.stale is False


PATH_CASES = [
    ('{"result": {"prices": ["1.5", "0.0125"]}}', "result.prices.1", "0.0125"),
    ('{"data": [{"price": "3e-2"}]}', "data.0.price", "0.03"),
    ("[[1, 2], [3, 0.123456789012345678901234567890123]]", "1.1", "0.123456789012345678901234567890123"),
    ('{"0": {"x": 5}}', "0.x", "5"),  # a digit key of an object is a key
    ("0.0042", "", "0.0042"),  # empty path: the whole document
    ('{"pad": "%s", "price": "0.5"}' % ("x" * 300_000), "price", "0.5"),  # arrives in many chunks
]


async def test_paths_and_numeric_strings(make, source):
    provider, knobs = await make()
    for body, path, expected in PATH_CASES:
        source.body = body
        knobs.set(**w(rate__json_path=path))  # a new path: fetched again at once
        assert await provider.get_rate() == D(expected), path
    assert source.hits == len(PATH_CASES)


INVERT_CASES = [
    ("4", "2", True, "0.125"),  # 1 / (4 x 2)
    ("4", "0.5", False, "2.0"),
    ("0.2", "1", True, "5"),
    ("3", "1", True, "0.3333333333333333333333333333333333"),  # 34 significant digits
]


async def test_multiplier_and_invert(make, source):
    provider, knobs = await make()
    for price, multiplier, invert, expected in INVERT_CASES:
        source.body = f'{{"price": "{price}"}}'
        knobs.set(**w(rate__multiplier=multiplier, rate__invert=invert, rate__url=f"{source.url}?p={price}"))
        assert await provider.get_rate() == D(expected), (price, multiplier, invert)


async def test_ttl_caching(make, source, clock, db):
    provider, _ = await make(**w(rate__ttl_seconds=600))
    for _ in range(5):
        assert await provider.get_rate() == D("0.0125")
    assert source.hits == 1
    clock.advance(599)
    source.body = '{"price": "0.02"}'
    assert await provider.get_rate() == D("0.0125")
    assert source.hits == 1
    clock.advance(2)
    assert await provider.get_rate() == D("0.02")
    assert source.hits == 2
    await provider.flush()
    assert [value for _, value in await stored(db)] == ["0.0125", "0.02"]


async def test_single_flight(make, source, db):
    source.delay = 0.05
    provider, _ = await make()
    results = await asyncio.gather(*(provider.get_rate() for _ in range(20)))
    assert results == [D("0.0125")] * 20
    assert source.hits == 1
    await provider.flush()
    assert len(await stored(db)) == 1


async def test_settings_change_invalidates_the_cache(make, source, clock):
    source.body = '{"price": "0.5", "other": "0.25"}'
    provider, knobs = await make(**w(rate__ttl_seconds=600))
    assert await provider.get_rate() == D("0.5")
    knobs.set(**w(rate__json_path="other"))
    assert await provider.get_rate() == D("0.25")
    knobs.set(**w(rate__url=source.url + "?v=2"))
    assert await provider.get_rate() == D("0.25")
    assert source.hits == 3
    knobs.set(**w(rate__multiplier="2"))
    assert await provider.get_rate() == D("0.50")
    assert source.hits == 4
    assert await provider.get_rate() == D("0.50")
    assert source.hits == 4


async def test_static_provider_does_no_io(make, source, db):
    provider, knobs = await make(**w(rate__provider="static", rate__static_tons_per_star="0.75"))
    quote = await provider.quote()
    assert quote.tons_per_star == D("0.75") and quote.source == "static" and not quote.stale
    knobs.set(**w(rate__static_tons_per_star="0.8"))
    assert await provider.get_rate() == D("0.8")  # no cache in the way
    await provider.flush()
    assert source.hits == 0 and await stored(db) == []
    assert await provider.last_stored() is None


# -- failures


FAILURES = [
    ("status", None, "HTTP 500"),
    ("garbage", None, "not valid JSON"),
    ("good", '{"price": "0.01"', "not valid JSON"),
    ("good", '{"cost": "0.01"}', "no key 'price'"),
    ("good", '{"price": {"usd": 1}}', "not a number: object"),
    ("good", '{"price": "0"}', "rate must be > 0"),
    ("good", '{"price": -0.5}', "rate must be > 0"),
    ("good", '{"price": "abc"}', "not a number: 'abc'"),
    ("good", '{"price": true}', "not a number: boolean"),
    ("good", '{"price": null}', "not a number: null"),
    ("good", '{"price": NaN}', "not valid JSON"),
    ("good", '{"price": "Infinity"}', "not a number"),
    ("good", '{"price": 1e999999999}', "out of range"),
    ("good", '{"price": [1, 2]}', "not a number: list"),
    ("good", '{"price": "1_000"}', "not a number"),
    ("good", '{"price": 1, "pad": "%s"}' % ("x" * (1 << 20)), "response larger than 1048576 bytes"),
]


async def test_failure_falls_back_to_the_last_stored_rate(make, source, clock, db, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger.rates")
    provider, _ = await make(**w(rate__ttl_seconds=60))
    for index, (mode, body, reason) in enumerate(FAILURES):
        caplog.clear()
        source.mode, source.body = "good", f'{{"price": "0.0{index + 1}"}}'
        clock.advance(61)
        good = await provider.quote()
        assert good.tons_per_star == D(f"0.0{index + 1}") and not good.stale
        source.mode = mode
        if body is not None:
            source.body = body
        clock.advance(61)
        hits = source.hits
        quote = await provider.quote()
        assert quote == Rate(good.tons_per_star, source.url, good.fetched_at, True), reason
        assert source.hits == hits + 1
        [warning] = records(caplog, logging.WARNING)
        message = warning.getMessage()
        assert reason in message and f"url={source.url} " in message, (reason, message)
        assert warning.reason == message.split("reason=")[1].split(" retry_in")[0]
        assert not records(caplog, logging.CRITICAL)
    await provider.flush()
    assert len(await stored(db)) == len(FAILURES)  # only the good fetches were stored


async def test_slow_source_never_holds_callers_past_the_timeout(make, source, clock, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger.rates")
    provider, _ = await make(**w(rate__ttl_seconds=60))
    assert await provider.get_rate() == D("0.0125")
    source.mode = "slow"
    clock.advance(61)
    began = time.perf_counter()
    quotes = await asyncio.gather(*(provider.quote() for _ in range(20)))
    elapsed = time.perf_counter() - began
    assert elapsed < TIMEOUT + 0.15, elapsed
    assert all(q.tons_per_star == D("0.0125") and q.stale for q in quotes)
    assert source.hits == 2  # one shared (timed-out) fetch
    [warning] = records(caplog, logging.WARNING)
    assert "timeout after 0.3s" in warning.getMessage()


async def test_unreachable_source(make, clock, caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caplog.set_level(logging.WARNING, logger="tondonate.ledger.rates")
    provider, _ = await make(**w(rate__url=f"http://127.0.0.1:{port}/x", rate__default_tons_per_star="0.5"))
    quote = await provider.quote()
    assert quote == Rate(D("0.5"), "default", 0, True)
    [warning] = records(caplog, logging.WARNING)
    assert "cannot connect" in warning.getMessage()


async def test_default_rate_with_critical_log_when_nothing_was_ever_stored(make, source, clock, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger.rates")
    source.mode = "status"
    provider, _ = await make(**w(rate__default_tons_per_star="0.5", rate__ttl_seconds=600))
    quote = await provider.quote()
    assert quote == Rate(D("0.5"), "default", 0, True)
    assert len(records(caplog, logging.CRITICAL)) == 1
    # within the retry delay: no new request, no new log lines
    clock.advance(29)
    assert await provider.get_rate() == D("0.5")
    assert source.hits == 1 and len(records(caplog, logging.CRITICAL)) == 1
    # the next failed fetch is reported again
    clock.advance(2)
    assert await provider.get_rate() == D("0.5")
    assert source.hits == 2
    assert len(records(caplog, logging.CRITICAL)) == 2 and len(records(caplog, logging.WARNING)) == 2


async def test_retry_after_failure_is_min_of_ttl_and_30s(make, source, clock):
    source.mode = "status"
    provider, _ = await make(**w(rate__ttl_seconds=600))
    await provider.get_rate()
    for step in (1, 28):
        clock.advance(step)
        await provider.get_rate()
    assert source.hits == 1
    clock.advance(1.5)  # 30.5 s after the failure
    source.mode = "good"
    quote = await provider.quote()
    assert quote.tons_per_star == D("0.0125") and not quote.stale
    assert source.hits == 2

    source.mode = "status"
    provider2, _ = await make(**w(rate__ttl_seconds=10, rate__json_path="price"))
    await provider2.get_rate()  # cached by provider 1 only: fetches (and fails)
    hits = source.hits
    clock.advance(9)
    await provider2.get_rate()
    assert source.hits == hits
    clock.advance(1.5)  # ttl 10 < 30: retried after 10 s
    await provider2.get_rate()
    assert source.hits == hits + 1


async def test_changing_the_url_after_a_failure_retries_at_once(make, source):
    source.mode = "status"
    provider, knobs = await make()
    await provider.get_rate()
    source.mode = "good"
    knobs.set(**w(rate__url=source.url + "/v2"))
    quote = await provider.quote()
    assert quote.tons_per_star == D("0.0125") and not quote.stale
    assert source.hits == 2


async def test_fallback_survives_a_restart(make, source, db, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger.rates")
    first, _ = await make()
    fresh = await first.quote()
    await first.stop()  # waits for the insert

    source.mode = "status"
    second, _ = await make()  # a new process on the same database
    quote = await second.quote()
    assert quote == Rate(D("0.0125"), source.url, fresh.fetched_at, True)
    assert not records(caplog, logging.CRITICAL)

    # also when start() was not called: the fallback reads the table itself
    third = RateProvider(db, second._get_settings, fetch_timeout=TIMEOUT)
    try:
        assert (await third.quote()).tons_per_star == D("0.0125")
    finally:
        await third.stop()


async def test_fallback_uses_the_newest_row(make, source, db):
    await db.execute("INSERT INTO rates (fetched_at, source, tons_per_star) VALUES ($1, $2, $3)", 100, "old", "0.1")
    await db.execute("INSERT INTO rates (fetched_at, source, tons_per_star) VALUES ($1, $2, $3)", 300, "new", "0.3")
    await db.execute("INSERT INTO rates (fetched_at, source, tons_per_star) VALUES ($1, $2, $3)", 200, "mid", "0.2")
    source.mode = "garbage"
    provider, _ = await make()
    assert await provider.quote() == Rate(D("0.3"), "new", 300, True)
    last = await provider.last_stored()
    assert last == Rate(D("0.3"), "new", 300, True)  # stale: older than the TTL


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(make, source):
    source.delay = 0.05
    provider, _ = await make()
    impatient = asyncio.create_task(provider.get_rate())
    patient = asyncio.create_task(provider.get_rate())
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await patient == D("0.0125")
    assert impatient.cancelled()
    assert source.hits == 1


async def test_no_url_configured(make, source, caplog):
    caplog.set_level(logging.WARNING, logger="tondonate.ledger.rates")
    provider, _ = await make(**w(rate__url=""))
    assert (await provider.quote()).source == "default"
    assert "rate.url is not set" in records(caplog, logging.WARNING)[0].getMessage()
    assert source.hits == 0


# -- secrets


async def test_secrets_are_never_logged_or_stored(make, source, db, caplog):
    caplog.set_level(logging.DEBUG)
    host = source.url.split("//")[1].split("/")[0]
    url = f"http://user:PASSW0RD@{host}/bot123456:AAHsecretTOKEN/rate?apikey=S3CRET&vs=usd"
    provider, _ = await make(**w(rate__url=url))
    quote = await provider.quote()
    assert quote.tons_per_star == D("0.0125")
    assert quote.source == f"http://{host}/***/rate?apikey=***&vs=***"
    await provider.flush()
    source.mode = "status"
    provider2, _ = await make(**w(rate__url=url + "&x=1"))
    await provider2.quote()
    ours = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records if r.name.startswith("tondonate"))
    text = ours + repr(await stored(db))
    assert "rate fetch failed" in ours
    for secret in ("PASSW0RD", "S3CRET", "AAHsecretTOKEN", "user"):
        assert secret not in text


@pytest.mark.parametrize(
    "url, redacted",
    [
        ("https://api.example.com/v1/price?ids=ton", "https://api.example.com/v1/price?ids=***"),
        ("https://u:p@example.com:8443/x#frag", "https://example.com:8443/x"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
        ("http://example.com/k/0123456789abcdef0123456789abcdef/p", "http://example.com/k/***/p"),
        ("http://example.com:99999/", "<unparsable url>"),
    ],
)
def test_redact_url(url, redacted):
    assert redact_url(url) == redacted


async def test_a_fetched_rate_beyond_the_bound_is_refused_and_the_last_good_one_kept(make, source, clock, db, caplog):
    """A source answering an absurd rate (it would overflow 64-bit nano-tons: issue #19) is
    refused like a failed fetch, with an ERROR, and the last good rate stays in use."""
    caplog.set_level(logging.WARNING, logger="tondonate.ledger.rates")
    provider, knobs = await make(**w(rate__ttl_seconds=60))
    good = await provider.quote()
    assert good.tons_per_star == D("0.0125")
    for body, knob in (('{"price": "922338"}', {}), ('{"price": "0.000001"}', w(rate__invert=True))):
        caplog.clear()
        source.body = body
        knobs.set(**knob)
        clock.advance(61)
        quote = await provider.quote()
        assert quote == Rate(good.tons_per_star, source.url, good.fetched_at, True), body
        [error] = records(caplog, logging.ERROR)
        assert "above the bound of 1000 tons per Star" in error.getMessage(), error.getMessage()
    await provider.flush()
    assert await stored(db) == [(source.url, "0.0125")]
    # A stored rate beyond the bound (written before the bound existed) is not a fallback either.
    await db.execute("INSERT INTO rates (fetched_at, source, tons_per_star) VALUES ($1, $2, $3)", 2**40, "old", "5000")
    assert (await provider.last_stored()).tons_per_star == D("0.0125")
