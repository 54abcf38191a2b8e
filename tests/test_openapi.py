"""The OpenAPI 3.1 document at GET /api/openapi.json describes exactly the API: the same
routes, a valid document, and real responses that match their schemas."""

from __future__ import annotations

import time

import pytest
from api_support import api_db_url, app_stack, configure, donate, error_of, stack, visit  # noqa: F401  (fixtures)
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tondonate.api.openapi import openapi_document
from tondonate.config import Config
from tondonate.server import create_app
from tondonate.users import set_blocked

pytestmark = pytest.mark.asyncio(loop_scope="module")

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
DOC_URI = "urn:tondonate:openapi"


def registered_api_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of every route the app serves under /api (HEAD comes with each GET)."""
    app = create_app(Config().replace(bot={"token": "1:x"}, db={"url": "sqlite:///unused.db"}))
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if (path == "/api" or path.startswith("/api/")) and route.method != "HEAD":
            found.add((route.method, path))
    return found


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {
        (method.upper(), path) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }


async def test_document_lists_exactly_the_routes():
    document = openapi_document()
    routes = registered_api_routes()
    assert len(routes) == 8, routes
    assert documented_operations(document) == routes
    # The query parameters are the ones the contract names.
    params = {
        path: [p["name"] for p in item.get("get", {}).get("parameters", [])] for path, item in document["paths"].items()
    }
    assert params["/api/leaderboard/all-time"] == ["limit", "offset"]
    assert params["/api/leaderboard/week"] == ["week_key", "limit", "offset"]
    assert params["/api/leaderboard/referrals"] == ["period", "limit", "offset"]
    assert params["/api/me"] == params["/api/config"] == []
    # Every operation but the document itself needs initData.
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert (operation.get("security") == [{"tma": []}]) == (path != "/api/openapi.json"), (method, path)


async def test_document_is_valid_openapi_3_1():
    validator = pytest.importorskip("openapi_spec_validator")
    document = openapi_document()
    assert document["openapi"].startswith("3.1.")
    validator.validate(document)  # picks the 3.1 validator from the version field
    validator.OpenAPIV31SpecValidator(document).validate()


# -- real responses against the document ------------------------------------------------


def closed(schema):
    """``schema`` with every object schema closed (additionalProperties: false), so that a
    response field the document does not describe fails the check."""
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def response_validator(document: dict, method: str, path: str, status: int) -> Draft202012Validator:
    """A validator for the JSON body the document promises for ``status`` of one operation (closed objects)."""
    responses = document["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which its document does not list"
    strict = closed(document)
    registry = Registry().with_resource(DOC_URI, Resource.from_contents(strict, default_specification=DRAFT202012))
    pointer = "/".join(
        [
            "#",
            "paths",
            path.replace("~", "~0").replace("/", "~1"),
            method.lower(),
            "responses",
            str(status),
            "content",
            "application~1json",
            "schema",
        ]
    )
    return Draft202012Validator(
        {"$ref": DOC_URI + pointer}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


async def check(
    stack, document, method: str, path: str, status: int, user=None, body=None, query: str = "", **sign
) -> dict:
    headers = stack.auth(user, **sign) if user is not None else {}
    resp = await stack.client.request(method, path + query, headers=headers, json=body)
    data = await resp.json()
    assert resp.status == status, (method, path, query, resp.status, data)
    errors = sorted(response_validator(document, method, path, status).iter_errors(data), key=str)
    assert not errors, (method, path, status, [f"{list(e.absolute_path)}: {e.message}" for e in errors], data)
    return data


async def test_served_document_and_real_responses_match_it(stack):
    resp = await stack.client.get("/api/openapi.json")  # public, no initData
    assert resp.status == 200 and resp.content_type == "application/json"
    document = await resp.json()
    assert document == openapi_document()

    now = int(time.time())
    ref, alice, blocked = stack.user(51, username="ref", photo_url="https://t.me/r.jpg"), stack.user(52), stack.user(53)
    await visit(stack, ref)
    await visit(stack, alice, start_param="ref_51")
    await donate(stack, alice, 12, now)
    await donate(stack, ref, 3, now - 3600 * 24 * 30)
    await visit(stack, blocked)
    await set_blocked(stack.db, 53, True)
    await stack.settle()

    for user in (alice, ref, stack.user(54)):  # a donor with a referrer, a referrer, a newcomer
        await check(stack, document, "GET", "/api/me", 200, user)
        await check(stack, document, "GET", "/api/config", 200, user)
        for query in ("", "?limit=1", "?limit=1&offset=1", "?offset=50"):
            await check(stack, document, "GET", "/api/leaderboard/all-time", 200, user, query=query)
            await check(stack, document, "GET", "/api/leaderboard/referrals", 200, user, query=query)
            await check(
                stack,
                document,
                "GET",
                "/api/leaderboard/referrals",
                200,
                user,
                query=(query + "&" if query else "?") + "period=week",
            )
        for query in ("", "?week_key=2026-W10", "?week_key=2020-W53&limit=100", "?week_key=0001-W02"):
            await check(stack, document, "GET", "/api/leaderboard/week", 200, user, query=query)
    page = await check(stack, document, "GET", "/api/leaderboard/all-time", 200, alice)
    assert page["me"] is not None and page["items"]
    await check(stack, document, "POST", "/api/payments/create-invoice", 200, alice, {"stars_amount": 10})
    await check(stack, document, "POST", "/api/payments/create-invoice", 200, alice, {"preset_id": "place3"})
    await check(stack, document, "POST", "/api/referral/attach", 200, stack.user(55), {"referrer_id": 51})

    # Errors: each status an operation answers is documented for it, with the Error schema.
    for path in (
        "/api/me",
        "/api/config",
        "/api/leaderboard/all-time",
        "/api/leaderboard/week",
        "/api/leaderboard/referrals",
    ):
        await check(stack, document, "GET", path, 401)
        await check(stack, document, "GET", path, 401, alice, auth_date=now - 10**6)
        await check(stack, document, "GET", path, 403, blocked)
    for path in ("/api/leaderboard/all-time", "/api/leaderboard/week", "/api/leaderboard/referrals"):
        await check(stack, document, "GET", path, 400, alice, query="?limit=0")
    await check(stack, document, "GET", "/api/leaderboard/week", 400, alice, query="?week_key=2026-W99")
    await check(stack, document, "GET", "/api/leaderboard/referrals", 400, alice, query="?period=day")
    invoice, attach = "/api/payments/create-invoice", "/api/referral/attach"
    for path in (invoice, attach):
        await check(stack, document, "POST", path, 401, None, {})
        await check(stack, document, "POST", path, 400, alice, [])
        await check(
            stack,
            document,
            "POST",
            path,
            403,
            blocked,
            {"referrer_id": 51, "preset_id": "place1"} if path == attach else {"preset_id": "place1"},
        )
    await check(stack, document, "POST", invoice, 400, alice, {"stars_amount": 0})
    await check(stack, document, "POST", attach, 409, alice, {"referrer_id": 51})
    await check(stack, document, "POST", attach, 404, stack.user(56), {"referrer_id": 999})
    await check(stack, document, "POST", attach, 400, stack.user(57), {"referrer_id": 57})
    await configure(stack, **{"limits.invoices_per_minute": 2})
    await check(stack, document, "POST", invoice, 429, alice, {"stars_amount": 10})
    stack.botapi.fail_next("createInvoiceLink", 500)
    await check(stack, document, "POST", invoice, 502, ref, {"stars_amount": 10})
    resp = await stack.client.post(
        invoice, data=b"x" * 70_000, headers={**stack.auth(alice), "Content-Type": "application/json"}
    )
    assert resp.status == 413 and "413" in document["paths"][invoice]["post"]["responses"]
    assert not list(response_validator(document, "POST", invoice, 413).iter_errors(await resp.json()))


def body_validator(document: dict, path: str) -> Draft202012Validator:
    schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator(schema)


def param_validator(document: dict, path: str, name: str) -> Draft202012Validator:
    (param,) = (p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name)
    return Draft202012Validator(param["schema"])


async def test_the_document_and_the_server_agree_on_what_is_valid(stack):
    """Input the document allows is served; input it forbids is a 400 (JSON Schema's idea of
    an integer included: 7.0 is one, 7.5 is not)."""
    document = openapi_document()
    await configure(stack, **{"limits.invoices_per_minute": 1000})
    alice = stack.user(61)
    invoice, attach = "/api/payments/create-invoice", "/api/referral/attach"
    for body, stars in (
        ({}, None),  # an amount or a preset is needed
        ({"preset_id": None}, None),  # null is no value of either field: leave the field out
        ({"stars_amount": None}, None),
        ({"stars_amount": 5, "preset_id": None}, None),
        ({"preset_id": "place3", "stars_amount": None}, None),
        ({"stars_amount": 7.5}, None),
        ({"stars_amount": "7"}, None),
        ({"stars_amount": 7.0}, 7),
        ({"stars_amount": 7}, 7),
        ({"preset_id": "place1", "stars_amount": 100.0}, 100),
        ({"preset_id": "place2"}, 50),
    ):
        valid = body_validator(document, invoice).is_valid(body)
        assert valid == (stars is not None), ("the document", body)
        resp = await stack.post(invoice, alice, body)
        if stars is None:
            await error_of(resp, 400)
        else:
            assert resp.status == 200, (body, await resp.text())
            assert (await resp.json())["stars_amount"] == stars
    await visit(stack, stack.user(62))
    for tg_id, body, ok in (
        (63, {"referrer_id": 62.0}, True),
        (64, {"referrer_id": 62.5}, False),
        (65, {"referrer_id": None}, False),
        (66, {"referrer_id": 2**63}, False),
        (67, {"referrer_id": 0}, False),
        (68, {"referrer_id": 62, "note": "extra fields are ignored"}, True),
    ):
        assert body_validator(document, attach).is_valid(body) == ok, ("the document", body)
        resp = await stack.post(attach, stack.user(tg_id), body)
        if ok:
            assert resp.status == 200 and await resp.json() == {"attached": True, "referrer_id": 62}, body
        else:
            await error_of(resp, 400)
    week = "/api/leaderboard/week"
    for value, ok in (("", False), ("2026-W10", True), ("2026-W99", True)):  # W99: the pattern's, the calendar's 400
        assert param_validator(document, week, "week_key").is_valid(value) == ok, ("the document", value)
        resp = await stack.client.get(f"{week}?week_key={value}", headers=stack.auth(alice))
        if ok and value != "2026-W99":
            assert resp.status == 200, await resp.text()
        else:
            await error_of(resp, 400, "invalid_week_key")
