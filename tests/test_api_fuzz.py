"""Property: no client input makes the API answer 5xx, and every error has the standard shape.

Hypothesis drives random query strings, Authorization headers (garbage, and
correctly signed initData carrying odd users, dates and start parameters) and
bodies at every route, against one running app per dialect.  pytest-asyncio
runs each example in the module's event loop, so they all share that app.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import orjson
import pytest
from api_support import api_db_url, app_stack, configure, stack  # noqa: F401  (fixtures)
from conftest import TOKEN
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from yarl import URL

from tondonate.emulator import sign_init_data

pytestmark = pytest.mark.asyncio(loop_scope="module")

GETS = [
    "/api/me",
    "/api/config",
    "/api/leaderboard/all-time",
    "/api/leaderboard/week",
    "/api/leaderboard/referrals",
    "/api/openapi.json",
]
POSTS = ["/api/payments/create-invoice", "/api/referral/attach"]
ROUTES = (
    [("GET", p) for p in GETS]
    + [("POST", p) for p in POSTS]
    + [
        ("GET", "/api/nope"),
        ("GET", "/api/me/"),
        ("POST", "/api/me"),
        ("DELETE", "/api/leaderboard/week"),
        ("PUT", "/api/payments/create-invoice"),
        ("GET", "/api/payments/create-invoice"),
    ]
)
ERROR_CODES = {400, 401, 403, 404, 405, 409, 413, 415, 429}

# -- strategies -------------------------------------------------------------------------

ints = st.one_of(
    st.integers(-5, 200),
    st.sampled_from([0, -1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30, -(2**63) - 1]),
    st.integers(),
)
texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "ref_1",
            "ref_2",
            "place1",
            "week",
            "all",
            "2026-W10",
            "9999-W52",
            "0001-W01",
            "٣",
            "²",
            "1e2",
            "-0",
        ]
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
param_names = st.one_of(
    st.sampled_from(["limit", "offset", "week_key", "period", "tg_id", "user"]), st.text(max_size=4)
)
param_values = st.one_of(
    ints.map(str),
    texts,
    st.from_regex(r"[0-9]{4}-W[0-9]{2}", fullmatch=True),
    st.sampled_from(["all", "week", "ALL", "10", "100", "101", "1.5", " 5", "%", "%ZZ", "%FF"]),
)
# Raw query strings: percent signs, separators, non-UTF-8 escapes, sent as is.
raw_queries = st.text(alphabet="abcdefiklmnoprstwyz_=&;%+-0123456789W.FZ", max_size=40)


@st.composite
def queries(draw) -> str:
    if draw(st.booleans()):
        return draw(raw_queries)
    pairs = draw(st.lists(st.tuples(param_names, param_values), max_size=4))
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


field_names = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=6).filter(
    lambda k: k != "hash"
)
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60
)
users = st.one_of(
    st.fixed_dictionaries(
        {"id": st.one_of(st.integers(1, 6), ints)},
        optional={
            "username": texts,
            "first_name": texts,
            "last_name": texts,
            "photo_url": texts,
            "language_code": texts,
            "is_premium": st.booleans(),
            "allows_write_to_pm": json_values,
        },
    ),
    json_values,
)


@st.composite
def authorizations(draw) -> str | None:
    kind = draw(st.sampled_from(["none", "garbage", "tma garbage", "signed", "signed", "signed", "signed odd"]))
    if kind == "none":
        return None
    if kind == "garbage":
        return draw(header_text)
    if kind == "tma garbage":
        return "tma " + draw(header_text)
    now = int(time.time())
    user = draw(
        st.fixed_dictionaries(
            {"id": st.integers(1, 6)},
            optional={"username": texts, "first_name": texts, "photo_url": texts, "language_code": texts},
        )
    )
    start_param = draw(st.none() | texts | st.integers(-2, 8).map(lambda n: f"ref_{n}"))
    if kind == "signed":
        return "tma " + sign_init_data(TOKEN, user, start_param=start_param, auth_date=now - draw(st.integers(0, 100)))
    extra = {"user": draw(users)} if draw(st.booleans()) else {}
    if draw(st.booleans()):
        extra["auth_date"] = draw(st.one_of(ints.map(str), texts))
    if draw(st.booleans()):
        extra[draw(field_names)] = draw(texts)  # keys are sent unquoted: printable ones only
    raw = sign_init_data(TOKEN, user, start_param=start_param, auth_date=now, extra=extra)
    if draw(st.booleans()):  # break it a little after signing
        raw = draw(
            st.sampled_from(
                [
                    raw + "&",
                    raw + "&&",
                    "&" + raw,
                    raw + "&user=x",
                    raw.replace("%22", '"'),
                    raw.upper(),
                    raw[:-1],
                    raw + "=",
                    raw.replace("=", "==", 1),
                ]
            )
        )
    return "tma " + raw


body_dicts = st.dictionaries(
    st.one_of(st.sampled_from(["stars_amount", "preset_id", "referrer_id"]), texts), json_values, max_size=3
)


@st.composite
def bodies(draw) -> tuple[bytes | None, str | None]:
    kind = draw(st.sampled_from(["none", "json", "json", "json any", "bytes"]))
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json",
                "text/plain",
                None,
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "application/json; charset=latin-1",
                "garbage/",
            ]
        )
    )
    if kind == "none":
        return None, content_type
    if kind == "bytes":
        return draw(st.binary(max_size=64)), content_type
    value = draw(body_dicts) if kind == "json" else draw(json_values)
    return json.dumps(value).encode(), content_type


# -- the property -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def seen(app_stack):
    """Statuses the examples got (per app), to check afterwards that they reached past authentication."""
    return {}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    route=st.sampled_from(ROUTES),
    query=queries(),
    authorization=authorizations(),
    body=bodies(),
    accept=st.sampled_from([None, "*/*", "text/html", "application/json"]),
)
@example(
    route=("GET", "/api/leaderboard/week"),
    query="week_key=9999-W52",
    authorization="tma " + sign_init_data(TOKEN, {"id": 1}),
    body=(None, None),
    accept=None,
)
@example(
    route=("GET", "/api/leaderboard/all-time"),
    query="limit=%C2%B2",
    authorization="tma " + sign_init_data(TOKEN, {"id": 1}),
    body=(None, None),
    accept=None,
)
# Refusals past authentication, whatever the random draw (the coverage check below wants some).
@example(
    route=("GET", "/api/leaderboard/all-time"),
    query="limit=0",
    authorization="tma " + sign_init_data(TOKEN, {"id": 2}),
    body=(None, None),
    accept=None,
)
@example(
    route=("GET", "/api/leaderboard/referrals"),
    query="period=month",
    authorization="tma " + sign_init_data(TOKEN, {"id": 3}),
    body=(None, None),
    accept=None,
)
@example(
    route=("POST", "/api/payments/create-invoice"),
    query="",
    authorization="tma " + sign_init_data(TOKEN, {"id": 4}),
    body=(b'{"stars_amount": "ten"}', "application/json"),
    accept=None,
)
@example(
    route=("POST", "/api/referral/attach"),
    query="",
    authorization="tma " + sign_init_data(TOKEN, {"id": 7, "username": "nul\x00byte", "first_name": "\x00"}),
    body=(b'{"referrer_id": 1}', "application/json"),
    accept=None,
)
async def test_no_input_causes_a_5xx(app_stack, seen, route, query, authorization, body, accept):
    if not seen:  # once per app: no rate limit in the way of reaching the invoice code
        seen["ready"] = True
        await configure(app_stack, **{"limits.invoices_per_minute": 10_000})
    method, path = route
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    if accept is not None:
        headers["Accept"] = accept
    data, content_type = body if method != "GET" else (None, None)
    if content_type is not None and data is not None:
        headers["Content-Type"] = content_type
    url = URL(path + ("?" + query if query else ""), encoded=True)
    resp = await app_stack.client.request(method, url, headers=headers, data=data)
    text = await resp.read()
    assert resp.status < 500, (resp.status, text[:500])
    seen[resp.status] = seen.get(resp.status, 0) + 1
    if resp.status >= 400:
        assert resp.status in ERROR_CODES, resp.status
        document = orjson.loads(text)
        assert set(document) == {"error"} and set(document["error"]) == {"code", "message"}, document
        assert document["error"]["code"].replace("_", "").isalpha() and document["error"]["message"]
    else:
        assert resp.content_type == "application/json"
        orjson.loads(text)


async def test_the_examples_reached_past_authentication(app_stack, seen):
    """The property is only worth something if valid requests and each kind of refusal were among the examples."""
    assert seen.get(200, 0) >= 20, seen
    assert seen.get(401, 0) >= 20, seen
    assert seen.get(400, 0) >= 5, seen
