"""The OpenAPI 3.1 description of exactly the routes in :mod:`tondonate.api.routes`
(a test holds the two together)."""

from __future__ import annotations

from functools import lru_cache

from .. import __version__
from .params import MAX_OFFSET

TONS = {
    "type": "string",
    "pattern": r"^-?\d+(\.\d+)?$",
    "description": "decimal string with tons.decimals digits",
    "examples": ["12.50"],
}
NULLABLE_STR = {"type": ["string", "null"]}
RANK = {"type": ["integer", "null"], "minimum": 1}
ID = {"type": "integer", "format": "int64"}
MAX_ID = 2**63 - 1
PROFILE = {"tg_id": ID, "username": NULLABLE_STR, "first_name": NULLABLE_STR, "photo_url": NULLABLE_STR}


def _obj(props: dict, required: list[str] | None = None, nullable: bool = False) -> dict:
    schema = {
        "type": ["object", "null"] if nullable else "object",
        "properties": props,
        "required": list(props) if required is None else required,
    }
    return schema


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _param(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGING = [
    _param("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "page size; default leaderboard.page_size"),
    _param(
        "offset",
        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        "items to skip; past the end gives an empty page",
    ),
]
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}}}
AUTH_ERRORS = {
    "400": _error("invalid parameter or body"),
    "401": _error("missing, malformed, wrong or expired initData"),
    "403": _error("the user is blocked"),
    "503": {
        **_error("database_unavailable: the database refused the request (unreachable, disk full); try again"),
        "headers": RETRY_AFTER,
    },
}
BODY_TOO_LARGE = _error("the body is larger than the server accepts (64 KiB)")


def _page(item_props: dict, me_props: dict, extra: dict | None = None) -> dict:
    props = {
        "items": {"type": "array", "items": _obj({"rank": {"type": "integer", "minimum": 1}, **PROFILE, **item_props})},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
        "next_offset": {"type": ["integer", "null"], "description": "null on the last page"},
        **(extra or {}),
        "me": _obj({"rank": {"type": "integer", "minimum": 1}, **me_props}, nullable=True),
    }
    return _obj(props)


def _get(summary: str, schema: dict, params: list | None = None) -> dict:
    return {
        "get": {
            "summary": summary,
            "parameters": params or [],
            "security": [{"tma": []}],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
                **AUTH_ERRORS,
            },
        }
    }


REFERRER_STATS = {"referrals_count": {"type": "integer"}, "referrals_tons_total": TONS, "referrals_tons_week": TONS}
WEEK_KEY = {"type": "string", "pattern": r"^\d{4}-W\d{2}$", "examples": ["2026-W48"]}


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tondonate Mini App API",
            "version": __version__,
            "description": "Every request carries `Authorization: tma <Telegram.WebApp.initData>`. "
            'Errors are `{"error": {"code", "message"}}` with a 4xx status for client mistakes, 503 (with Retry-After) while the database or the bot cannot answer.',
        },
        "components": {
            "securitySchemes": {
                "tma": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`tma <raw initData>`, validated with the bot token",
                }
            },
            "schemas": {"Error": _obj({"error": _obj({"code": {"type": "string"}, "message": {"type": "string"}})})},
        },
        "paths": {
            "/api/me": _get(
                "My totals, ranks, referral stats and referral link",
                _obj(
                    {
                        **PROFILE,
                        "tons_total": TONS,
                        "tons_week": TONS,
                        "rank_all_time": RANK,
                        "rank_week": RANK,
                        **REFERRER_STATS,
                        "rank_referrals": RANK,
                        "referrer_id": {"type": ["integer", "null"]},
                        "referral_link": NULLABLE_STR,
                        "week_key": WEEK_KEY,
                    }
                ),
            ),
            "/api/leaderboard/all-time": _get(
                "Donors by tons, all time", _page({"tons_total": TONS}, {"tons_total": TONS}), PAGING
            ),
            "/api/leaderboard/week": _get(
                "Donors by tons in one ISO week (default: the current week in week.timezone)",
                _page(
                    {"tons_week": TONS},
                    {"tons_week": TONS},
                    {
                        "week_key": WEEK_KEY,
                        "week_start": {"type": "string", "format": "date-time"},
                        "week_end": {"type": "string", "format": "date-time"},
                    },
                ),
                [_param("week_key", WEEK_KEY, "ISO week, e.g. 2026-W48"), *PAGING],
            ),
            "/api/leaderboard/referrals": _get(
                "Referrers by the tons their referrals donated",
                _page(REFERRER_STATS, REFERRER_STATS, {"period": {"enum": ["all", "week"]}}),
                [
                    _param("period", {"enum": ["all", "week"]}, "rank by all-time (default) or this week's tons"),
                    *PAGING,
                ],
            ),
            "/api/config": _get(
                "Presets, limits and the current rate",
                _obj(
                    {
                        "presets": {
                            "type": "array",
                            "items": _obj(
                                {"id": {"enum": ["place1", "place2", "place3"]}, "stars": {"type": "integer"}}
                            ),
                        },
                        "min_stars": {"type": "integer"},
                        "max_stars": {"type": "integer"},
                        "tons_per_star": {"type": "string"},
                        "rate_age_seconds": {
                            "type": ["integer", "null"],
                            "minimum": 0,
                            "description": "seconds since the rate was fetched from its source; "
                            "null for the static rate and for the default (no rate ever fetched)",
                        },
                        "tons_decimals": {"type": "integer"},
                        "tons_rounding": {"enum": ["down", "half_up", "half_even", "up"]},
                        "bot_username": NULLABLE_STR,
                        "week_key": WEEK_KEY,
                    }
                ),
            ),
            "/api/payments/create-invoice": {
                "post": {
                    "summary": "Create a Stars invoice link (credited only when the bot confirms the payment)",
                    "security": [{"tma": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "stars_amount": {
                                            "type": "integer",
                                            "minimum": 1,
                                            "description": "within donations.min_stars..max_stars (400 beyond)",
                                        },
                                        "preset_id": {"enum": ["place1", "place2", "place3"]},
                                    },
                                    # A preset, an amount, or both when the amount is the preset's (else 400).
                                    "anyOf": [{"required": ["stars_amount"]}, {"required": ["preset_id"]}],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {
                                    "schema": _obj(
                                        {
                                            "invoice_id": {"type": "string"},
                                            "invoice_link": {"type": "string"},
                                            "stars_amount": {"type": "integer"},
                                            "tons_amount": TONS,
                                        }
                                    )
                                }
                            },
                        },
                        **AUTH_ERRORS,
                        "400": _error(
                            "invalid body or amount; error.code says which: invalid_body, invalid_preset, "
                            "preset_mismatch, missing_amount, invalid_amount, amount_out_of_range "
                            "(outside donations.min_stars..max_stars), amount_too_large (more tons at the current "
                            "rate than one payment may credit, 10,000,000)"
                        ),
                        "413": BODY_TOO_LARGE,
                        "429": {
                            **_error("too many invoices"),
                            "headers": RETRY_AFTER,
                        },
                        "502": _error("Telegram did not create the invoice"),
                        "503": {
                            **_error(
                                "the bot is still starting (tondonate demo) or could not start; or "
                                "database_unavailable: the database refused the request"
                            ),
                            "headers": RETRY_AFTER,
                        },
                    },
                }
            },
            "/api/referral/attach": {
                "post": {
                    "summary": "Attach a referrer explicitly (only for a brand-new user)",
                    "security": [{"tma": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": _obj({"referrer_id": {**ID, "minimum": 1, "maximum": MAX_ID}})
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "attached",
                            "content": {
                                "application/json": {
                                    "schema": _obj({"attached": {"const": True}, "referrer_id": {"type": "integer"}})
                                }
                            },
                        },
                        **AUTH_ERRORS,
                        "413": BODY_TOO_LARGE,
                        "404": _error("unknown referrer"),
                        "409": _error("the user already existed"),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
                    },
                }
            },
        },
    }
