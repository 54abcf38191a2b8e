"""The ``http_json`` rate source: GET ``rate.url`` and take the number at ``rate.json_path``.

The path is dotted, list indexes allowed (``data.0.price``; empty: the whole
document).  The number is read from the JSON text as a Decimal (``0.1`` stays
0.1), multiplied by ``rate.multiplier`` and inverted when ``rate.invert``.  Every
failure (timeout, connection, non-2xx, a body over 1 MiB, bad JSON, a missing
path, not a number > 0) is a :class:`RateFetchError` whose message is safe to
log: it never quotes the URL, which may hold a key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import decimal
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..redact import redact_url
from ..settings import MAX_TONS_PER_STAR, Settings

MAX_BODY_BYTES = 1 << 20
_INVERT_PRECISION = 34  # significant digits of 1/x (the only inexact step)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class RateFetchError(Exception):
    """A fetch failed; ``str()`` is the reason that is logged (never contains secrets)."""


class RateOutOfBounds(RateFetchError):
    """The source answered, with a rate above :data:`~tondonate.settings.MAX_TONS_PER_STAR`:
    a broken source or a wrong ``rate.json_path``/``multiplier``/``invert``, logged as an ERROR."""


@dataclasses.dataclass(frozen=True)
class HttpJsonSource:
    """The ``http_json`` provider's settings, and fetching the rate they describe."""

    url: str
    json_path: str
    multiplier: Decimal
    invert: bool

    @classmethod
    def of(cls, settings: Settings) -> HttpJsonSource:
        return cls(
            url=settings["rate.url"].strip(),
            json_path=settings["rate.json_path"].strip(),
            multiplier=settings.decimal("rate.multiplier"),
            invert=bool(settings["rate.invert"]),
        )

    @property
    def source(self) -> str:
        return redact_url(self.url)

    async def fetch(self, session: aiohttp.ClientSession, timeout: float) -> Decimal:
        """tons_per_star from the source; RateFetchError(reason) on any failure."""
        return compute_rate(await self.number(session, timeout), self.multiplier, self.invert)

    async def number(self, session: aiohttp.ClientSession, timeout: float) -> Decimal:
        """The number at the configured path, as the source wrote it (the ``ton`` provider
        reads its prices through this too)."""
        scheme = urlsplit(self.url).scheme.lower() if self.url else ""
        if scheme not in ("http", "https"):
            raise RateFetchError("rate.url is not set" if not self.url else "rate.url is not an http(s) URL")
        try:
            async with asyncio.timeout(timeout):
                async with session.get(
                    self.url,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                    headers={"Accept": "application/json"},
                ) as response:
                    if not 200 <= response.status < 300:
                        raise RateFetchError(f"HTTP {response.status}")
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.content.iter_any():
                        size += len(chunk)
                        if size > MAX_BODY_BYTES:
                            raise RateFetchError(f"response larger than {MAX_BODY_BYTES} bytes")
                        chunks.append(chunk)
                    body = b"".join(chunks)
        except TimeoutError:
            raise RateFetchError(f"timeout after {timeout:g}s") from None
        except aiohttp.ClientConnectorError as exc:
            strerror = getattr(exc.os_error, "strerror", None) or type(exc.os_error).__name__
            raise RateFetchError(f"cannot connect ({strerror})") from None
        except (aiohttp.ClientError, OSError) as exc:
            # str(exc) of some aiohttp errors contains the full URL: name the type only.
            raise RateFetchError(f"request failed ({type(exc).__name__})") from None
        try:
            document = _parse_json(body)
        except (ValueError, RecursionError):
            raise RateFetchError(f"response is not valid JSON ({len(body)} bytes)") from None
        return _number(_dig(document, self.json_path), self.json_path)


def _parse_json(body: bytes) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a number")

    # Numbers come out as Decimal straight from the JSON text: "0.1" stays 0.1.
    return json.loads(body, parse_float=Decimal, parse_int=Decimal, parse_constant=no_constants)


def _dig(document: Any, path: str) -> Any:
    """The value at a dot path (``data.0.price``); RateFetchError naming the failing step."""
    value = document
    walked: list[str] = []
    for step in path.split(".") if path else []:
        where = ".".join(walked) or "<root>"
        if isinstance(value, dict):
            if step not in value:
                raise RateFetchError(f"json_path {path!r}: no key {step!r} at {where}")
            value = value[step]
        elif isinstance(value, list):
            if not step.isdigit() or not step.isascii():
                raise RateFetchError(f"json_path {path!r}: {where} is a list, {step!r} is not an index")
            if int(step) >= len(value):
                raise RateFetchError(f"json_path {path!r}: index {step} out of range at {where} (length {len(value)})")
            value = value[int(step)]
        else:
            raise RateFetchError(f"json_path {path!r}: {where} is a {_kind(value)}, cannot take {step!r}")
        walked.append(step)
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        return "number"
    kinds: dict[type[object], str] = {dict: "object", list: "list", str: "string"}
    return kinds.get(type(value), type(value).__name__)


def _number(value: Any, path: str) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = Decimal(value.strip())
    else:
        shown = repr(value)[:40] if isinstance(value, str) else _kind(value)
        raise RateFetchError(f"value at json_path {path!r} is not a number: {shown}")
    return number


def compute_rate(number: Decimal, multiplier: Decimal, invert: bool) -> Decimal:
    """``number x multiplier``, inverted when asked; RateFetchError unless finite and > 0,
    RateOutOfBounds above :data:`~tondonate.settings.MAX_TONS_PER_STAR`."""
    try:
        with decimal.localcontext() as ctx:
            ctx.prec = 200  # the product is exact for any sane input
            ctx.traps[decimal.Inexact] = False
            value = number * multiplier
            if not value.is_finite() or value <= 0:
                raise RateFetchError(f"rate must be > 0, got {number} x {multiplier} = {value}")
            if invert:
                ctx.prec = _INVERT_PRECISION
                value = Decimal(1) / value
    except decimal.DecimalException as exc:
        raise RateFetchError(f"rate out of range ({type(exc).__name__})") from None
    return check_bounds(value)


def check_bounds(value: Decimal) -> Decimal:
    """``value`` when it is a usable tons_per_star; RateFetchError unless finite and > 0,
    RateOutOfBounds above :data:`~tondonate.settings.MAX_TONS_PER_STAR`."""
    if not value.is_finite() or value <= 0:
        raise RateFetchError(f"rate must be finite and > 0, got {value}")
    if value > MAX_TONS_PER_STAR:
        raise RateOutOfBounds(f"rate {value} is above the bound of {MAX_TONS_PER_STAR} tons per Star")
    return value
