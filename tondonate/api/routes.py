"""The Mini App's read API (spec section 10): the boards, ``/api/me``, ``/api/config``.
Everything comes from the in-memory read model; only a first visit writes.
(Paying and referrals: :mod:`.payments`.)"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
from aiohttp import web

from ..ledger import PRESET_IDS
from ..ledger.money import format_tons
from ..ledger.rate_store import Rate
from ..readmodel import Board
from ..weeks import parse_week_key, week_bounds
from .context import ApiState, caller, known_caller
from .errors import bad_request, json_response
from .params import paging, query_choice, raw_query
from .routing import ApiRoutes

routes = ApiRoutes()
PAGE_CACHE_SIZE = 512


def _referral_link(api: ApiState, tg_id: int) -> str | None:
    bot_user = api.bot.identity  # learnt from getMe, possibly after the start
    if bot_user is None or not bot_user.username:
        return None
    short_name = api.config.webapp.short_name
    path = f"{bot_user.username}/{short_name}" if short_name else bot_user.username
    return f"https://t.me/{path}?startapp=ref_{tg_id}"


def _profile(model, tg_id: int) -> dict:
    info = model.users.get(tg_id)
    if info is None:
        return {"tg_id": tg_id, "username": None, "first_name": None, "photo_url": None}
    return {"tg_id": tg_id, "username": info.username, "first_name": info.first_name, "photo_url": info.photo_url}


# A page's serialized body up to (not including) the caller's ``me`` is kept until the read
# model or the board changes (a past week's board is reloaded aside, without bumping the
# model's version); per request only ``me`` is serialized.  Split in a lookup and a store,
# not one function taking a builder: closures would make every local of the handlers a
# cell, which costs microseconds on each request.
def _cached_page(api: ApiState, key: tuple, board: Board) -> bytes | None:
    hit = api.page_cache.get(key)
    if hit is not None and hit[0] == api.model.version and hit[1] is board and hit[2] == board.version:
        return hit[3]
    return None


def _store_page(
    api: ApiState, key: tuple, board: Board, items: list[dict], limit: int, offset: int, extra: dict | None = None
) -> bytes:
    end = offset + limit
    head = {"limit": limit, "offset": offset, "next_offset": end if end < len(board) else None, **(extra or {})}
    body = b'{"items":' + orjson.dumps(items) + b"," + orjson.dumps(head)[1:-1] + b',"me":'
    cache = api.page_cache
    if len(cache) >= PAGE_CACHE_SIZE:
        cache.clear()
    cache[key] = (api.model.version, board, board.version, body)
    return body


def _page_response(prefix: bytes, mine: bytes) -> web.Response:
    return web.Response(body=b"".join((prefix, mine, b"}")), content_type="application/json")


def _standing(board: Board, tg_id: int, field: str, decimals: int) -> bytes:
    """The caller's ``me`` on ``board``, serialized."""
    found = board.standing(tg_id)
    return b"null" if found is None else orjson.dumps({"rank": found[0], field: format_tons(found[1], decimals)})


def _user_items(model, board: Board, offset: int, limit: int, field: str, decimals: int) -> list[dict]:
    return [
        {"rank": rank, **_profile(model, tg_id), field: format_tons(tons, decimals)}
        for rank, tg_id, tons in board.page(offset, limit)
    ]


# Every handler takes the API's state after the request (see setup_api).
@routes.get("/api/leaderboard/all-time")
async def all_time(request: web.Request, api: ApiState) -> web.Response:
    tg_id = known_caller(request, api)
    if tg_id is None:
        tg_id = (await caller(request, api)).tg_id
    limit, offset = paging(request, api.page_size)
    model, decimals = api.model, api.decimals
    board = model.all_time
    key = ("all", offset, limit, decimals)
    page = _cached_page(api, key, board)
    if page is None:
        page = _store_page(
            api, key, board, _user_items(model, board, offset, limit, "tons_total", decimals), limit, offset
        )
    return _page_response(page, _standing(board, tg_id, "tons_total", decimals))


def _iso(moment: datetime) -> str:
    """ISO 8601 with an offset of whole minutes: before standard time a zone's local mean
    time has offsets such as +00:53:28, which ISO 8601 cannot write; give UTC then."""
    offset = moment.utcoffset()
    if offset is not None and offset.seconds % 60:
        moment = moment.astimezone(UTC)
    return moment.isoformat()


def _week_param(request: web.Request, model) -> str:
    """The asked (or current) week; 400 for a malformed one."""
    values = request.query.getall("week_key", [])
    if len(values) > 1:
        raise bad_request("week_key is given more than once", "invalid_week_key")
    if not values:
        return model.week_key
    try:
        parse_week_key(values[0])
    except ValueError as exc:
        raise bad_request(f"week_key must look like 2026-W48: {exc}", "invalid_week_key") from None
    return values[0]


def _week_bounds(key: str, tz) -> dict:
    """400 for a week whose bounds fall outside the datetime range (0001-W01, 9999-W52)."""
    try:
        start, end = week_bounds(key, tz)
    except (ValueError, OverflowError) as exc:
        raise bad_request(f"week_key must look like 2026-W48: {exc}", "invalid_week_key") from None
    return {"week_key": key, "week_start": _iso(start), "week_end": _iso(end)}


@routes.get("/api/leaderboard/week")
async def week(request: web.Request, api: ApiState) -> web.Response:
    tg_id = known_caller(request, api)
    if tg_id is None:
        tg_id = (await caller(request, api)).tg_id
    model = api.model
    week_key = _week_param(request, model) if raw_query(request) else model.week_key
    limit, offset = paging(request, api.page_size)
    decimals, tz = api.decimals, api.settings.timezone
    bounds = _week_bounds(week_key, tz) if week_key != model.week_key else None  # validate before any load
    board = (await model.week_boards(week_key)).users
    key = ("week", week_key, offset, limit, decimals, tz.key)
    page = _cached_page(api, key, board)
    if page is None:
        page = _store_page(
            api,
            key,
            board,
            _user_items(model, board, offset, limit, "tons_week", decimals),
            limit,
            offset,
            bounds or _week_bounds(week_key, tz),
        )
    return _page_response(page, _standing(board, tg_id, "tons_week", decimals))


def _referrer_stats(model, ref: int, decimals: int) -> dict:
    return {
        "referrals_count": model.referral_counts.get(ref, 0),
        "referrals_tons_total": format_tons(model.referrers.tons(ref), decimals),
        "referrals_tons_week": format_tons(model.week.referrers.tons(ref), decimals),
    }


def _referrer_items(model, board: Board, offset: int, limit: int, decimals: int) -> list[dict]:
    return [
        {"rank": rank, **_profile(model, ref), **_referrer_stats(model, ref, decimals)}
        for rank, ref, _tons in board.page(offset, limit)
    ]


@routes.get("/api/leaderboard/referrals")
async def referrals(request: web.Request, api: ApiState) -> web.Response:
    tg_id = known_caller(request, api)
    if tg_id is None:
        tg_id = (await caller(request, api)).tg_id
    limit, offset = paging(request, api.page_size)
    period = query_choice(request, "period", "all", ("all", "week")) if raw_query(request) else "all"
    model, decimals = api.model, api.decimals
    board = model.referrers if period == "all" else model.week.referrers
    key = ("ref", period, offset, limit, decimals)
    page = _cached_page(api, key, board)
    if page is None:
        page = _store_page(
            api, key, board, _referrer_items(model, board, offset, limit, decimals), limit, offset, {"period": period}
        )
    # Not memoized on the board: the counts and the other period's sum change without it.
    rank = board.rank(tg_id)
    mine = None if rank is None else {"rank": rank, **_referrer_stats(model, tg_id, decimals)}
    return _page_response(page, orjson.dumps(mine))


@routes.get("/api/me")
async def me(request: web.Request, api: ApiState) -> web.Response:
    model, decimals = api.model, api.decimals
    tg_id = known_caller(request, api)
    if tg_id is None:
        known = await caller(request, api)
        tg_id, referrer_id = known.tg_id, known.info.referrer_id
    else:
        referrer_id = model.users[tg_id].referrer_id
    all_time = model.all_time.standing(tg_id) or (None, 0)
    weekly = model.week.users.standing(tg_id) or (None, 0)
    return json_response(
        {
            **_profile(model, tg_id),
            "tons_total": format_tons(all_time[1], decimals),
            "tons_week": format_tons(weekly[1], decimals),
            "rank_all_time": all_time[0],
            "rank_week": weekly[0],
            **_referrer_stats(model, tg_id, decimals),
            "rank_referrals": model.referrers.rank(tg_id),
            "referrer_id": referrer_id,
            "referral_link": _referral_link(api, tg_id),
            "week_key": model.week_key,
        }
    )


def _rate_age(rate: Rate) -> int | None:
    """Seconds since a fetched rate was fetched (the top-up sheet shows it); None for the
    static rate and the default, which were never fetched."""
    if rate.source in ("static", "default") or rate.fetched_at <= 0:
        return None
    return max(0, int(time.time()) - rate.fetched_at)


@routes.get("/api/config")
async def config(request: web.Request, api: ApiState) -> web.Response:
    settings = api.settings
    await caller(request, api)
    rate = await api.ledger.rates.quote()
    bot_user = api.bot.identity
    return json_response(
        {
            "presets": [{"id": pid, "stars": stars} for pid, stars in zip(PRESET_IDS, settings.presets, strict=False)],
            "min_stars": settings["donations.min_stars"],
            "max_stars": settings["donations.max_stars"],
            "tons_per_star": format(rate.tons_per_star, "f"),  # plain notation, never "1E+1"
            "rate_age_seconds": _rate_age(rate),
            "tons_decimals": settings.tons_decimals,
            "tons_rounding": settings.tons_rounding,
            "bot_username": bot_user.username if bot_user else None,
            "week_key": api.model.week_key,
        }
    )
