"""Stars -> tons rate (spec section 8): :class:`RateProvider`.

Providers, by the ``rate.provider`` setting:

* ``static`` -- ``rate.static_tons_per_star``; no I/O, never stored.
* ``http_json`` -- GET ``rate.url``, the number at ``rate.json_path``, times
  ``rate.multiplier``, inverted when ``rate.invert`` (:mod:`.rate_source`).
* ``ton`` (the default) -- ``rate.star_usd`` / the median TON/USD price of
  ``rate.ton_sources`` (:mod:`.ton_rate`).

A fetched rate is cached for ``rate.ttl_seconds``; every successful fetch is
stored in ``rates`` (:mod:`.rate_store`, that table's statements).  A fetched rate in use
that is older than ``rate.stale_after_seconds`` (the sources have been failing
that long) is reported with one WARNING line per stored rate.

When the source fails (slower than ``fetch_timeout``, down, non-2xx, bad JSON,
missing path, not a number > 0) the last stored rate is used (kept in memory,
else the newest row of ``rates`` -- so a restart can fall back), with one
WARNING line per failed fetch; if no rate was ever stored,
``rate.default_tons_per_star`` with a CRITICAL line.  After a failure the
source is retried at most every ``min(ttl, 30 s)``.  Concurrent callers share
one in-flight fetch and none waits longer than ``fetch_timeout`` (+ 50 ms).

URLs in logs, in :attr:`Rate.source` and in the ``rates`` table are redacted
(:func:`tondonate.redact.redact_url`): an API key in the query string or in user:password is
never written anywhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import traceback
from collections.abc import Callable
from decimal import Decimal

import aiohttp

from ..db import Connection
from ..settings import Settings
from . import rate_store
from .rate_source import HttpJsonSource, RateFetchError, RateOutOfBounds
from .rate_store import Rate
from .ton_rate import TonSource

# What a provider fetches from: both are frozen dataclasses (hashable: the key of the
# cache and of the in-flight fetch) with a redacted ``source`` and ``fetch()``.
Source = HttpJsonSource | TonSource

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_SECONDS = 30.0  # after a failed fetch: retry after min(ttl, this)
WAIT_EPSILON_SECONDS = 0.05  # callers wait at most fetch_timeout + this
STORE_TIMEOUT_SECONDS = 10.0  # stop() waits this long for pending `rates` inserts


@dataclasses.dataclass
class _Flight:
    config: Source
    future: asyncio.Future[Rate | None]  # Rate: success, None: failure
    retry_after: float  # seconds until the source is tried again after a failure
    task: asyncio.Task[None] | None = None


class RateProvider:
    """The current ``tons_per_star``: see the module docstring."""

    def __init__(
        self,
        db: Connection,
        get_settings: Callable[[], Settings],
        *,
        session: aiohttp.ClientSession | None = None,
        fetch_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if fetch_timeout <= 0:
            raise ValueError("fetch_timeout must be > 0")
        self.db = db
        self._get_settings = get_settings
        self._session = session
        self._own_session = session is None
        self.fetch_timeout = float(fetch_timeout)
        self._clock = clock
        self._cached: tuple[Source, Rate, float] | None = None  # config, fresh rate, clock at fetch
        self._failed: tuple[Source, float] | None = None  # config, clock at the failure
        self._flights: dict[Source, _Flight] = {}
        self._stale_reported: tuple[int, str] | None = None  # (fetched_at, source) last reported as stale
        self._last_good: Rate | None = None  # newest stored (or being stored) rate
        self._db_checked = False  # `rates` was read since the last failure
        self._critical_pending = False  # a failure happened and the default was not reported yet
        self._store_tasks: set[asyncio.Task[None]] = set()
        self._fallback_lock = asyncio.Lock()
        self.fetch_failures: dict[str, int] = {}  # (redacted) source URL -> failed fetches, for the metrics

    # -- lifecycle
    async def start(self) -> None:
        """Open the HTTP session (unless one was given) and load the last stored rate."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        if self._last_good is None:
            self._last_good = await self._read_last_stored()
            self._db_checked = True

    async def stop(self) -> None:
        """Cancel in-flight fetches, finish pending ``rates`` inserts, close our own session."""
        for flight in list(self._flights.values()):
            if flight.task is not None:
                flight.task.cancel()
        tasks = [f.task for f in self._flights.values() if f.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._flights.clear()
        await self.flush()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def flush(self, timeout: float = STORE_TIMEOUT_SECONDS) -> None:
        """Wait until fetched rates are written to ``rates`` (inserts run after callers got the rate)."""
        pending = list(self._store_tasks)
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    # -- the API
    async def get_rate(self) -> Decimal:
        """tons_per_star to use now (never raises for a failing source)."""
        return (await self.quote()).tons_per_star

    async def quote(self) -> Rate:
        """The rate to use now, with where it came from and whether it is stale."""
        settings = self._get_settings()
        if settings["rate.provider"] == "static":
            return Rate(settings.decimal("rate.static_tons_per_star"), "static", int(time.time()), False)
        rate = await self._fetched(settings)
        self._report_age(rate, settings)
        return rate

    async def _fetched(self, settings: Settings) -> Rate:
        """The rate of a fetching provider: cached, fetched, or the fallback."""
        config: Source = TonSource.of(settings) if settings["rate.provider"] == "ton" else HttpJsonSource.of(settings)
        ttl = float(settings["rate.ttl_seconds"])
        now = self._clock()
        if self._cached is not None:
            cached_config, cached_rate, at = self._cached
            if cached_config == config and 0 <= now - at < ttl:
                return cached_rate
        if self._failed is not None:
            failed_config, at = self._failed
            if failed_config == config and 0 <= now - at < min(ttl, RETRY_AFTER_FAILURE_SECONDS):
                return await self._fallback(settings)
        flight = self._flights.get(config)
        if flight is None:
            flight = self._launch(config, min(ttl, RETRY_AFTER_FAILURE_SECONDS))
        try:
            async with asyncio.timeout(self.fetch_timeout + WAIT_EPSILON_SECONDS):
                rate = await asyncio.shield(flight.future)
        except TimeoutError:
            rate = None  # the flight itself gives up at fetch_timeout and logs why
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled
            rate = None  # the shared fetch was cancelled (stop()), not this caller
        if rate is None:
            return await self._fallback(settings)
        return rate

    def current(self) -> Rate | None:
        """What :meth:`quote` gives now without fetching (None: no rate known yet, the default
        would be used).  No I/O: the metrics read it at every scrape."""
        settings = self._get_settings()
        if settings["rate.provider"] == "static":
            return Rate(settings.decimal("rate.static_tons_per_star"), "static", int(time.time()), False)
        cached = self._cached
        return cached[1] if cached is not None and cached[0] == HttpJsonSource.of(settings) else self._last_good

    async def last_stored(self) -> Rate | None:
        """The newest row of ``rates`` (``stale`` when older than the current TTL), or None."""
        rate = await self._read_last_stored(raise_errors=True)
        if rate is None:
            return None
        ttl = self._get_settings()["rate.ttl_seconds"]
        return dataclasses.replace(rate, stale=time.time() - rate.fetched_at >= ttl)

    # -- internals
    def _report_age(self, rate: Rate, settings: Settings) -> None:
        """One WARNING per fetched rate still in use past ``rate.stale_after_seconds``."""
        if rate.fetched_at <= 0:
            return  # the default: reported (CRITICAL) by _fallback
        age = time.time() - rate.fetched_at
        if age <= settings["rate.stale_after_seconds"] or self._stale_reported == (rate.fetched_at, rate.source):
            return
        self._stale_reported = (rate.fetched_at, rate.source)
        log.warning(
            "the rate in use is stale: fetched %d s ago (rate.stale_after_seconds=%d) tons_per_star=%s url=%s",
            age,
            settings["rate.stale_after_seconds"],
            rate.tons_per_star,
            rate.source,
            extra={"rate_age_seconds": int(age)},
        )

    def _launch(self, config: Source, retry_after: float) -> _Flight:
        loop = asyncio.get_running_loop()
        flight = _Flight(config, loop.create_future(), retry_after)
        self._flights[config] = flight
        flight.task = loop.create_task(self._fly(flight), name="rate-fetch")
        return flight

    def _land(self, flight: _Flight, rate: Rate | None) -> None:
        if self._flights.get(flight.config) is flight:
            del self._flights[flight.config]
        if not flight.future.done():
            flight.future.set_result(rate)

    async def _fly(self, flight: _Flight) -> None:
        config = flight.config
        try:
            if self._session is None:
                self._session = aiohttp.ClientSession()
                self._own_session = True
            value = await config.fetch(self._session, self.fetch_timeout)
        except asyncio.CancelledError:
            if not flight.future.done():
                flight.future.cancel()
            if self._flights.get(config) is flight:
                del self._flights[config]
            raise
        except Exception as exc:
            reason = str(exc) if isinstance(exc, RateFetchError) else f"unexpected {type(exc).__name__}"
            if not isinstance(exc, RateFetchError):
                # frames only: an exception's message may quote the URL with its secrets
                frames = "".join(traceback.format_tb(exc.__traceback__))
                log.error("rate fetch crashed url=%s error=%s\n%s", config.source, type(exc).__name__, frames)
            self._failed = (config, self._clock())
            self.fetch_failures[config.source] = self.fetch_failures.get(config.source, 0) + 1
            self._db_checked = False
            self._critical_pending = True
            log.log(
                logging.ERROR if isinstance(exc, RateOutOfBounds) else logging.WARNING,
                "rate fetch failed url=%s reason=%s retry_in=%gs; falling back to the last stored rate",
                config.source,
                reason,
                flight.retry_after,
                extra={"rate_url": config.source, "reason": reason},
            )
            self._land(flight, None)
            return
        rate = Rate(value, config.source, int(time.time()), False)
        self._cached = (config, rate, self._clock())
        if self._failed is not None and self._failed[0] == config:
            self._failed = None
        self._last_good = dataclasses.replace(rate, stale=True)
        self._land(flight, rate)
        task = asyncio.get_running_loop().create_task(self._store(rate), name="rate-store")
        self._store_tasks.add(task)
        task.add_done_callback(self._store_tasks.discard)

    async def _store(self, rate: Rate) -> None:
        try:
            await rate_store.store(self.db, rate)
        except Exception:
            log.error("could not store the fetched rate url=%s", rate.source, exc_info=True)

    async def _read_last_stored(self, raise_errors: bool = False) -> Rate | None:
        try:
            return await rate_store.last_usable(self.db)
        except Exception:
            if raise_errors:
                raise
            log.error("could not read the last stored rate", exc_info=True)
            return None

    async def _fallback(self, settings: Settings) -> Rate:
        if self._last_good is None and not self._db_checked:
            async with self._fallback_lock:  # concurrent callers share one read
                if self._last_good is None and not self._db_checked:
                    self._last_good = await self._read_last_stored()
                    self._db_checked = True
        if self._last_good is not None:
            return self._last_good
        default = settings.decimal("rate.default_tons_per_star")
        if self._critical_pending:
            self._critical_pending = False
            log.critical(
                "no tons_per_star rate was ever fetched and the source fails: using rate.default_tons_per_star=%s",
                default,
            )
        return Rate(default, "default", 0, True)
