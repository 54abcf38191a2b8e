"""The Mini App's paying and inviting: ``POST /api/payments/create-invoice`` and
``POST /api/referral/attach``.  The ledger decides; here its reasons become HTTP answers."""

from __future__ import annotations

from aiohttp import web

from ..bot.errors import BotUnavailable, TelegramUnavailable
from ..ledger import PRESET_IDS, InvoiceError
from ..ledger.money import format_tons, to_nano
from .context import ApiState, authenticate, caller
from .errors import ApiError, bad_request, bot_unavailable, json_response, too_many_requests
from .params import integral, json_object, optional_int
from .routing import ApiRoutes

routes = ApiRoutes()

# An invoice the ledger refuses: the status of its reason (the reason is the error code).
INVOICE_STATUS = {"user_blocked": 403}


@routes.post("/api/payments/create-invoice")
async def create_invoice(request: web.Request, api: ApiState) -> web.Response:
    me = await caller(request, api)
    body = await json_object(request)
    unknown = set(body) - {"stars_amount", "preset_id"}
    if unknown:
        raise bad_request(
            f"unknown field(s): {', '.join(sorted(unknown))}; allowed: stars_amount, preset_id", "invalid_body"
        )
    # null is no value of either field (the document says so): leave the field out instead.
    if "stars_amount" in body and body["stars_amount"] is None:
        raise bad_request("stars_amount must be a whole number of Stars; leave it out for a preset", "invalid_amount")
    preset_id = body.get("preset_id")
    if "preset_id" in body and not isinstance(preset_id, str):
        raise bad_request(f"preset_id must be one of {', '.join(PRESET_IDS)}", "invalid_preset")
    decimals = api.decimals
    try:
        await api.bot.when_ready()  # at once, except while a demo's bot is still starting
        quote = await api.ledger.invoices.create(me.tg_id, integral(body.get("stars_amount")), preset_id)
        link = await api.bot.invoice_link(quote, me.init.profile.language_code, decimals)
    except BotUnavailable as exc:
        raise bot_unavailable(exc) from None
    except InvoiceError as exc:
        if exc.retry_after is not None:
            raise too_many_requests(exc.message, exc.retry_after) from None
        raise ApiError(INVOICE_STATUS.get(exc.reason, 400), exc.reason, exc.message) from None
    except TelegramUnavailable:
        raise ApiError(502, "telegram_unavailable", "Telegram did not create the invoice; try again shortly") from None
    return json_response(
        {
            "invoice_id": quote.invoice_id,
            "invoice_link": link,
            "stars_amount": quote.stars,
            "tons_amount": format_tons(to_nano(quote.tons), decimals),
        }
    )


_ATTACH_REFUSALS = {
    "refused:existing_user": (409, "already_registered", "Referrals only count for new users"),
    "refused:self": (400, "self_referral", "You cannot invite yourself"),
    "refused:unknown_referrer": (404, "unknown_referrer", "No such referrer"),
    "refused:blocked_referrer": (404, "unknown_referrer", "No such referrer"),
    "refused:unknown": (409, "referral_refused", "The referral could not be attached"),
}


@routes.post("/api/referral/attach")
async def referral_attach(request: web.Request, api: ApiState) -> web.Response:
    authenticate(request, api)  # 401 before any complaint about the body
    body = await json_object(request)
    referrer_id = optional_int(body, "referrer_id")
    if referrer_id is None or not 0 < referrer_id < 2**63:
        raise bad_request("referrer_id must be a Telegram user id", "invalid_parameter")
    me = await caller(request, api, ref_code=referrer_id)
    if me.referral == "attached":
        return json_response({"attached": True, "referrer_id": referrer_id})
    status, code, message = _ATTACH_REFUSALS.get(me.referral, _ATTACH_REFUSALS["refused:unknown"])
    raise ApiError(status, code, message)
