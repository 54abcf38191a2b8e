"""The kinds of value a business setting takes: each parser returns the canonical value
or raises :class:`SettingError` naming what is allowed (its ``allowed`` attribute is the
help text's "allowed" column).  The settings themselves are in :mod:`.values`."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit


class SettingError(ValueError):
    """An unknown key or a value out of its allowed range; the message names what is allowed."""


# -- value parsers: each takes a Python value (from JSON or toml) and returns the
# -- canonical one, or raises SettingError naming what is allowed.


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            else:
                raise SettingError(f"must be an integer, got {value!r}")
        if lo is not None and value < lo or hi is not None and value > hi:
            raise SettingError(
                f"must be an integer from {lo if lo is not None else '-inf'} to {hi if hi is not None else 'inf'}, got {value}"
            )
        return value

    parse.allowed = f"integer {lo}..{hi}" if hi is not None else f"integer >= {lo}"  # type: ignore[attr-defined]
    return parse


def decimal_string(positive: bool = True) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if isinstance(value, bool):
            raise SettingError(f"must be a decimal number, got {value!r}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise SettingError(f"must be a decimal number, got {value!r}") from None
        if not number.is_finite() or (positive and number <= 0):
            raise SettingError(f"must be a decimal number > 0, got {value!r}")
        return str(number)

    parse.allowed = "decimal > 0" if positive else "decimal"  # type: ignore[attr-defined]
    return parse


# The highest tons_per_star a rate may be (static, default or fetched).  Tons are stored as
# 64-bit nano-tons: without a bound, 922,338 tons per Star made 10,000 Stars overflow them.
# A thousand tons per Star is far beyond any real TON/Star price (about 0.005 in 2026);
# the ledger's own bound on one payment (ledger.money.MAX_PAYMENT_TONS) follows from it.
MAX_TONS_PER_STAR = Decimal(1000)


def tons_per_star(value: Any) -> str:
    """A tons_per_star: a decimal > 0 and at most :data:`MAX_TONS_PER_STAR`."""
    text = decimal_string()(value)
    if Decimal(text) > MAX_TONS_PER_STAR:
        raise SettingError(
            f"must be at most {MAX_TONS_PER_STAR} tons per Star (a larger rate overflows the ledger's amounts), "
            f"got {value!r}"
        )
    return text


tons_per_star.allowed = f"decimal > 0, at most {MAX_TONS_PER_STAR}"  # type: ignore[attr-defined]


def fraction(value: Any) -> str:
    """A share such as a spread: a decimal > 0, at most 1."""
    text = decimal_string()(value)
    if Decimal(text) > 1:
        raise SettingError(f"must be a decimal > 0 and at most 1 (0.1 is 10 %), got {value!r}")
    return text


fraction.allowed = "decimal > 0, at most 1"  # type: ignore[attr-defined]

MAX_TON_SOURCES = 10


def ton_sources(value: Any) -> list[dict[str, str]]:
    """Where the ``ton`` provider asks the TON/USD price: URLs and the dot path to the
    number in each one's JSON (data, not code: a new source is a setting, not a release)."""
    shape = f'a JSON list of 1..{MAX_TON_SOURCES} {{"url": "https://...", "path": "dot.path"}} objects'
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TON_SOURCES:
        raise SettingError(f"must be {shape}, got {value!r}")
    sources = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"url", "path"}:
            raise SettingError(f"must be {shape}; item {index} is {item!r}")
        url, path = item["url"], item["path"]
        if not isinstance(url, str) or not isinstance(path, str):
            raise SettingError(f"must be {shape}; item {index} has a url or path that is not a string")
        try:
            parts = urlsplit(url.strip())
            ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        except ValueError:
            ok = False
        if not ok:
            raise SettingError(
                f"must be {shape}; item {index}: url is not an http(s) URL"
            )  # not quoted: may hold a key
        sources.append({"url": url.strip(), "path": path.strip()})
    return sources


ton_sources.allowed = f'JSON list of {{"url", "path"}} objects (1..{MAX_TON_SOURCES})'  # type: ignore[attr-defined]

# The ``ton`` provider's sources of the TON/USD price, in their documented answers:
# CoinGecko's simple price {"the-open-network": {"usd": 5.21}} and tonapi's rates
# {"rates": {"TON": {"prices": {"USD": 5.21}, ...}}}.  Both are keyless free tiers.
DEFAULT_TON_SOURCES = [
    {
        "url": "https://api.coingecko.com/api/v3/simple/price?ids=the-open-network&vs_currencies=usd",
        "path": "the-open-network.usd",
    },
    {"url": "https://tonapi.io/v2/rates?tokens=ton&currencies=usd", "path": "rates.TON.prices.USD"},
]


def choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in options:
            raise SettingError(f"must be one of {', '.join(options)}, got {value!r}")
        return value

    parse.allowed = " | ".join(options)  # type: ignore[attr-defined]
    return parse


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise SettingError(f"must be a string, got {value!r}")
    return value


text.allowed = "string"  # type: ignore[attr-defined]


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise SettingError(f"must be true or false, got {value!r}")


boolean.allowed = "true | false"  # type: ignore[attr-defined]


def timezone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise SettingError(f"must be an IANA time zone name such as Europe/Berlin, got {value!r}")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"must be an IANA time zone name such as Europe/Berlin, got {value!r}") from None
    return value


timezone.allowed = "IANA time zone name (Europe/Berlin, UTC, ...)"  # type: ignore[attr-defined]


def presets(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) != 3:
        raise SettingError(f"must be a JSON list of 3 positive integers (Stars of «1/2/3 место»), got {value!r}")
    return [integer(1, 100_000)(v) for v in value]


presets.allowed = "JSON list of 3 integers 1..100000, e.g. [100, 50, 25]"  # type: ignore[attr-defined]


def ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise SettingError(f"must be a JSON list of Telegram ids, got {value!r}")
    return [integer(1)(v) for v in value]


ids.allowed = "JSON list of Telegram user ids, e.g. [12345, 67890]"  # type: ignore[attr-defined]
