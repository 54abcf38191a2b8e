"""Parsing client input: every problem is a 400 with a message naming what is allowed."""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson
from aiohttp import web

from .errors import bad_request

MAX_OFFSET = 2**53 - 1  # the largest integer every JSON client reads exactly
_INTEGER = re.compile(r"-?[0-9]{1,16}")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    values = request.query.getall(name, [])
    if not values:
        return default
    if len(values) > 1:
        raise bad_request(f"{name} is given more than once", "invalid_parameter")
    text = values[0].strip()
    if not _INTEGER.fullmatch(text) or not low <= (value := int(text)) <= high:
        raise bad_request(f"{name} must be an integer from {low} to {high}", "invalid_parameter")
    return value


def raw_query(request: web.Request) -> str:
    """The query string as sent, undecoded: enough to see whether there is one, and for
    :func:`_plain_paging`, which leaves anything escaped to the full parse.  (Cheaper than
    ``request.query_string``, which decodes and caches on the request and the URL.)"""
    return request.rel_url.raw_query_string


def paging(request: web.Request, page_size: int) -> tuple[int, int]:
    query = request.rel_url.raw_query_string  # raw_query(request), inline: every board request
    if not query:  # the usual first page: no query to parse
        return page_size, 0
    return _known_paging(query, page_size) or (
        query_int(request, "limit", page_size, 1, 100),
        query_int(request, "offset", 0, 0, MAX_OFFSET),
    )


def _plain_paging(query: str, page_size: int) -> tuple[int, int] | None:
    """(limit, offset) from a plain query such as ``limit=20&offset=40`` without building
    the parsed query (a few microseconds, on every page of a board).  None for anything
    else (escapes, repeats, a bad or out-of-range value): the full parse decides, and
    words its 400."""
    if "%" in query or "+" in query:
        return None
    limit, offset, seen = page_size, 0, 0
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "limit":
            bit = 1
        elif name == "offset":
            bit = 2
        else:
            continue  # another parameter (week_key, period): not paging's
        if seen & bit or not (value.isascii() and value.isdigit() and len(value) <= 16):
            return None
        seen |= bit
        if bit == 1:
            limit = int(value)
        else:
            offset = int(value)
    if not (1 <= limit <= 100 and 0 <= offset <= MAX_OFFSET):
        return None
    return limit, offset


# Clients ask for the same few pages over and over (the Mini App sends limit=50&offset=N
# for every page, the first included): a query read once is looked up after that, one C
# call instead of the loop above (thousands of instructions a request).  At most 1024 queries
# of at most aiohttp's 8 KB request line: a few MB in the worst case.
_known_paging = functools.lru_cache(maxsize=1024)(_plain_paging)


def query_choice(request: web.Request, name: str, default: str, options: tuple[str, ...]) -> str:
    values = request.query.getall(name, [])
    if not values:
        return default
    if len(values) > 1 or values[0] not in options:
        raise bad_request(f"{name} must be one of {', '.join(options)}", "invalid_parameter")
    return values[0]


async def json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type not in ("application/json", "text/plain", ""):
        raise bad_request("Send a JSON object with Content-Type: application/json", "invalid_body")
    try:
        body = await request.read()
        data = orjson.loads(body) if body.strip() else {}
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("The body is not valid JSON", "invalid_body") from None
    if not isinstance(data, dict):
        raise bad_request("The body must be a JSON object", "invalid_body")
    return data


def integral(value: Any) -> Any:
    """``value``, with a float that is a whole number (``7.0``, ``1e2``) as the int it is:
    JSON Schema, and so the OpenAPI document, counts it an integer.  Anything else as it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def optional_int(data: dict[str, Any], name: str) -> int | None:
    value = integral(data.get(name))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be an integer", "invalid_parameter")
    return value
