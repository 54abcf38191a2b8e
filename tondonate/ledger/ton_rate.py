"""The ``ton`` rate source: tons_per_star = ``rate.star_usd`` / the TON/USD price.

The price is asked of every source in ``rate.ton_sources`` at once (each a URL and
a dot path to the number in its JSON, read as the ``http_json`` provider reads
its one: :meth:`HttpJsonSource.number`).  Of the sources that answered with a
price > 0, the median is taken; a source off that median by more than
``rate.max_spread`` (a fraction of it) is ignored with a WARNING, and the price is
the median of the rest.  Two sources that disagree that much leave nothing to
trust: the fetch fails and the provider falls back as for any failed fetch.

Caching, single-flight fetching, the stored fallback and the default are
:class:`~tondonate.ledger.rates.RateProvider`'s, the same for every source.
"""

from __future__ import annotations

import asyncio
import dataclasses
import decimal
import logging
from decimal import Decimal

import aiohttp

from ..settings import Settings
from .rate_source import HttpJsonSource, RateFetchError, check_bounds

log = logging.getLogger(__name__)

_DIVIDE_PRECISION = 34  # significant digits of star_usd / price (the only inexact step)
_PRICE_EXPONENT = 30  # a price beyond 1e+-30 USD is a broken source, not a market


@dataclasses.dataclass(frozen=True)
class TonSource:
    """The ``ton`` provider's settings, and fetching the rate they describe."""

    sources: tuple[HttpJsonSource, ...]
    star_usd: Decimal
    max_spread: Decimal

    @classmethod
    def of(cls, settings: Settings) -> TonSource:
        return cls(
            sources=tuple(
                HttpJsonSource(url=s["url"].strip(), json_path=s["path"].strip(), multiplier=Decimal(1), invert=False)
                for s in settings["rate.ton_sources"]
            ),
            star_usd=settings.decimal("rate.star_usd"),
            max_spread=settings.decimal("rate.max_spread"),
        )

    @property
    def source(self) -> str:
        """What a fetched rate says it came from: ``ton:`` and the (redacted) source URLs."""
        return "ton:" + " ".join(s.source for s in self.sources)

    async def fetch(self, session: aiohttp.ClientSession, timeout: float) -> Decimal:
        """tons_per_star from the median TON price; RateFetchError(reason) when no price is usable."""
        answers = await asyncio.gather(*(_price(s, session, timeout) for s in self.sources), return_exceptions=True)
        prices: list[tuple[HttpJsonSource, Decimal]] = []
        failures: list[str] = []
        for source, answer in zip(self.sources, answers, strict=True):
            if isinstance(answer, RateFetchError):
                log.warning("TON price source failed url=%s reason=%s", source.source, answer)
                failures.append(f"{source.source}: {answer}")
            elif isinstance(answer, BaseException):
                raise answer  # a bug (or a cancellation): RateProvider reports it
            else:
                prices.append((source, answer))
        if not prices:
            raise RateFetchError("no TON price source answered (" + "; ".join(failures) + ")")
        middle = median([price for _, price in prices])
        kept: list[Decimal] = []
        for source, price in prices:
            off = abs(price - middle) / middle
            if off > self.max_spread:
                log.warning(
                    "TON price source ignored: off the median url=%s price=%s median=%s off=%.3f max_spread=%s",
                    source.source,
                    price,
                    middle,
                    off,
                    self.max_spread,
                )
            else:
                kept.append(price)
        if not kept:
            shown = ", ".join(str(price) for _, price in prices)
            raise RateFetchError(f"TON price sources disagree by more than max_spread {self.max_spread}: {shown}")
        return tons_per_star(self.star_usd, median(kept))


async def _price(source: HttpJsonSource, session: aiohttp.ClientSession, timeout: float) -> Decimal:
    price = await source.number(session, timeout)
    if not price.is_finite() or price <= 0:
        raise RateFetchError(f"TON price must be > 0, got {price}")
    if not -_PRICE_EXPONENT <= price.adjusted() <= _PRICE_EXPONENT:
        raise RateFetchError(f"TON price out of range: {price}")  # also keeps the median's arithmetic in range
    return price


def median(values: list[Decimal]) -> Decimal:
    """The middle value; of an even count, the mean of the middle two."""
    ordered = sorted(values)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[half]
    return (ordered[half - 1] + ordered[half]) / 2


def tons_per_star(star_usd: Decimal, price: Decimal) -> Decimal:
    """``star_usd / price`` (USD per Star over USD per TON), bounded like every rate."""
    try:
        with decimal.localcontext() as ctx:
            ctx.prec = _DIVIDE_PRECISION
            value = star_usd / price
    except decimal.DecimalException as exc:
        raise RateFetchError(f"rate out of range ({type(exc).__name__})") from None
    return check_bounds(value)
