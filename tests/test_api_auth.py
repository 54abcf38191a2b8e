"""Mini App API authentication, first visits, profile refresh, blocking and the referral rule.

Everything goes through the real app (aiohttp test client, real SQLite or
PostgreSQL, the real bot long-polling the Bot API emulator) with initData
signed here, as the Telegram client would send it.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qsl, quote

import orjson
import pytest
from api_support import api_db_url, app_stack, configure, error_of, stack, visit  # noqa: F401  (fixtures)
from conftest import TOKEN

from tondonate.emulator import init_data_hash, sign_init_data
from tondonate.users import set_blocked

pytestmark = pytest.mark.asyncio(loop_scope="module")

API_GETS = [
    "/api/me",
    "/api/config",
    "/api/leaderboard/all-time",
    "/api/leaderboard/week",
    "/api/leaderboard/referrals",
]
API_POSTS = {"/api/payments/create-invoice": {"preset_id": "place1"}, "/api/referral/attach": {"referrer_id": 1}}
OTHER_TOKEN = "654321:ANOTHER-bot-token"


def _reencode(fields: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in fields)


def _fields(raw: str) -> list[tuple[str, str]]:
    return parse_qsl(raw, keep_blank_values=True, strict_parsing=True)


async def _db_user(stack, tg_id: int):
    return await stack.db.fetchrow(
        "SELECT username, first_name, photo_url, language_code, referrer_id, is_blocked FROM users WHERE tg_id = $1",
        tg_id,
    )


async def test_bad_init_data_is_401(stack):
    client = stack.client
    alice = stack.user(1001, username="alice")
    good = sign_init_data(TOKEN, alice)
    now = int(time.time())

    def tamper(raw: str, key: str, value: str) -> str:
        return _reencode([(k, value if k == key else v) for k, v in _fields(raw)])

    def without(raw: str, key: str) -> str:
        return _reencode([(k, v) for k, v in _fields(raw) if k != key])

    def resigned_without(key: str) -> str:
        """A correctly signed string that lacks ``key`` (signed over what remains)."""
        fields = {k: v for k, v in _fields(good) if k not in ("hash", key)}
        return _reencode([*fields.items(), ("hash", init_data_hash(TOKEN, fields))])

    other_user = stack.user(1002, username="mallory")
    tampered_user = tamper(good, "user", dict(_fields(sign_init_data(TOKEN, other_user)))["user"])
    cases = {
        # (Authorization header or None, expected error code)
        "missing header": (None, "missing_init_data"),
        "empty header": ("", "missing_init_data"),
        "wrong scheme": ("Bearer " + good, "invalid_auth_scheme"),
        "scheme only": ("tma", "invalid_auth_scheme"),
        "scheme and blanks": ("tma    ", "invalid_auth_scheme"),
        "raw initData without scheme": (good, "invalid_auth_scheme"),
        "not a query string": ("tma just-some-text", "malformed_init_data"),
        "bad hash": ("tma " + tamper(good, "hash", "0" * 64), "invalid_init_data_hash"),
        "short hash": ("tma " + tamper(good, "hash", "abc"), "invalid_init_data_hash"),
        "no hash": ("tma " + without(good, "hash"), "invalid_init_data_hash"),
        "another bot's token": ("tma " + sign_init_data(OTHER_TOKEN, alice), "invalid_init_data_hash"),
        "expired": ("tma " + sign_init_data(TOKEN, alice, auth_date=now - 86_400 - 30), "init_data_expired"),
        "future": ("tma " + sign_init_data(TOKEN, alice, auth_date=now + 300), "init_data_from_future"),
        "tampered user field": ("tma " + tampered_user, "invalid_init_data_hash"),
        "tampered auth_date": ("tma " + tamper(good, "auth_date", str(now + 1)), "invalid_init_data_hash"),
        "tampered start_param": (
            "tma " + tamper(sign_init_data(TOKEN, alice, start_param="ref_5"), "start_param", "ref_6"),
            "invalid_init_data_hash",
        ),
        "added field": ("tma " + good + "&start_param=ref_1002", "invalid_init_data_hash"),
        "duplicate user key": (
            "tma " + good + "&user=" + quote(dict(_fields(good))["user"], safe=""),
            "malformed_init_data",
        ),
        "duplicate hash key": ("tma " + good + "&hash=" + dict(_fields(good))["hash"], "malformed_init_data"),
        "signed but no user": ("tma " + resigned_without("user"), "malformed_init_data"),
        "signed but no auth_date": ("tma " + resigned_without("auth_date"), "malformed_init_data"),
        "signed, user not JSON": (
            "tma " + sign_init_data(TOKEN, alice, extra={"user": "not json"}),
            "malformed_init_data",
        ),
        "signed, user a list": ("tma " + sign_init_data(TOKEN, alice, extra={"user": [1, 2]}), "malformed_init_data"),
        "signed, id a string": (
            "tma " + sign_init_data(TOKEN, {"id": "1001", "first_name": "A"}),
            "malformed_init_data",
        ),
        "signed, id zero": ("tma " + sign_init_data(TOKEN, {"id": 0, "first_name": "A"}), "malformed_init_data"),
        "signed, id true": ("tma " + sign_init_data(TOKEN, {"id": True, "first_name": "A"}), "malformed_init_data"),
        "signed, id too big": ("tma " + sign_init_data(TOKEN, {"id": 2**63, "first_name": "A"}), "malformed_init_data"),
        "signed, auth_date text": (
            "tma " + sign_init_data(TOKEN, alice, extra={"auth_date": "yesterday"}),
            "malformed_init_data",
        ),
    }
    for name, (header, code) in cases.items():
        headers = {} if header is None else {"Authorization": header}
        resp = await client.get("/api/me", headers=headers)
        assert resp.status == 401, (name, await resp.text())
        await error_of(resp, 401, code)
    # A header beyond aiohttp's 8190-byte field limit is refused by the HTTP parser itself (a 4xx).
    resp = await client.get(
        "/api/me", headers={"Authorization": "tma " + sign_init_data(TOKEN, alice, extra={"pad": "x" * 9000})}
    )
    assert resp.status == 400
    # None of those created anyone.
    assert await stack.db.fetchval("SELECT COUNT(*) FROM users") == 0


async def test_every_route_requires_auth(stack):
    alice = stack.user(1001)
    expired = {"Authorization": "tma " + sign_init_data(TOKEN, alice, auth_date=int(time.time()) - 200_000)}
    for path in API_GETS:
        await error_of(await stack.client.get(path), 401, "missing_init_data")
        await error_of(await stack.client.get(path, headers=expired), 401, "init_data_expired")
        # Query parameters are judged only after the caller is known.
        await error_of(await stack.client.get(path + "?limit=abc&week_key=nope&period=x"), 401)
    for path, body in API_POSTS.items():
        await error_of(await stack.client.post(path, json=body), 401, "missing_init_data")
        await error_of(await stack.client.post(path, json=body, headers=expired), 401, "init_data_expired")
        # A bad body from an unauthenticated client is still a 401, not a 400.
        await error_of(
            await stack.client.post(path, data=b"{not json", headers={"Content-Type": "application/json"}), 401
        )
        await error_of(await stack.client.post(path, json={"referrer_id": "x", "stars_amount": "x"}), 401)
    # The document describing the API is public.
    assert (await stack.client.get("/api/openapi.json")).status == 200
    assert await stack.db.fetchval("SELECT COUNT(*) FROM users") == 0


async def test_valid_init_data_variants(stack):
    now = int(time.time())
    alice = stack.user(1001, username="alice")
    # A little clock skew ahead is tolerated (<= 60 s), and any age up to auth.max_age_seconds.
    assert (await visit(stack, alice, auth_date=now + 30))["tg_id"] == 1001
    assert (await visit(stack, alice, auth_date=now - 86_400 + 60))["tg_id"] == 1001
    # Real initData carries more fields (query_id, chat_type/chat_instance, Bot API 8 "signature"):
    # they are part of the data-check-string like any other field.
    assert (await visit(stack, alice, query_id="AAE", chat_type="private", extra={"signature": "c2ln"}))[
        "tg_id"
    ] == 1001
    # The scheme is case-insensitive; spaces around the value are ignored.
    raw = sign_init_data(TOKEN, alice)
    resp = await stack.client.get("/api/me", headers={"Authorization": "TMA  " + raw + " "})
    assert resp.status == 200
    # Non-ASCII profile fields and escaped slashes survive the round trip.
    bob = stack.user(1002, first_name="Бо́б 🚀", username="bob", photo_url="https://t.me/i/userpic/320/bob.svg")
    me = await visit(stack, bob)
    assert (me["first_name"], me["photo_url"]) == ("Бо́б 🚀", "https://t.me/i/userpic/320/bob.svg")
    # The user id comes from initData only: a tg_id in the query is no identity.
    resp = await stack.client.get("/api/me?tg_id=1001", headers=stack.auth(bob))
    assert (await resp.json())["tg_id"] == 1002
    resp = await stack.post("/api/payments/create-invoice", bob, {"stars_amount": 5, "tg_id": 1001})
    await error_of(resp, 400, "invalid_body")


async def test_cached_init_data_expires_with_the_setting(stack):
    """A validated initData is cached, but its age is checked on every request against the current setting."""
    alice = stack.user(1001)
    headers = stack.auth(alice, auth_date=int(time.time()) - 600)
    assert (await stack.client.get("/api/me", headers=headers)).status == 200
    await configure(stack, **{"auth.max_age_seconds": 300})
    await error_of(await stack.client.get("/api/me", headers=headers), 401, "init_data_expired")
    assert (await stack.get("/api/me", alice)).status == 200  # a fresh one is fine


async def test_first_visit_creates_user_and_later_visits_refresh_profile(stack):
    alice = stack.user(1001, username="alice", first_name="Alice", photo_url="https://t.me/a.jpg", language_code="en")
    assert await _db_user(stack, 1001) is None
    me = await visit(stack, alice)
    assert me["tg_id"] == 1001 and (me["username"], me["first_name"], me["photo_url"]) == (
        "alice",
        "Alice",
        "https://t.me/a.jpg",
    )
    row = await _db_user(stack, 1001)
    assert (row["username"], row["first_name"], row["photo_url"], row["language_code"]) == (
        "alice",
        "Alice",
        "https://t.me/a.jpg",
        "en",
    )
    assert row["referrer_id"] is None and not row["is_blocked"]

    # A changed username (and language) is stored and shown at once, by /me and on the boards.
    renamed = {**alice, "username": "alice_new", "language_code": "de"}
    assert (await visit(stack, renamed))["username"] == "alice_new"
    row = await _db_user(stack, 1001)
    assert (row["username"], row["language_code"]) == ("alice_new", "de")
    # Only the language changed: still stored.
    await visit(stack, {**renamed, "language_code": "es"})
    assert (await _db_user(stack, 1001))["language_code"] == "es"

    # initData without a photo (privacy settings) does not erase the stored one.
    no_photo = {k: v for k, v in renamed.items() if k != "photo_url"}
    assert (await visit(stack, no_photo))["photo_url"] == "https://t.me/a.jpg"
    assert (await _db_user(stack, 1001))["photo_url"] == "https://t.me/a.jpg"

    # A removed username is removed: Telegram always sends one when the user has it.
    no_username = {k: v for k, v in renamed.items() if k != "username"}
    me = await visit(stack, no_username)
    assert me["username"] is None and me["first_name"] == "Alice"
    assert (await _db_user(stack, 1001))["username"] is None
    await visit(stack, renamed)

    # Other processes see the change through the database; this one after a settle still agrees.
    await stack.settle()
    me = await visit(stack, renamed)
    assert (me["username"], me["first_name"]) == ("alice_new", "Alice")
    assert await stack.db.fetchval("SELECT COUNT(*) FROM users") == 1


async def test_blocked_user_gets_403_everywhere(stack):
    alice = stack.user(1001)
    await visit(stack, alice)
    assert await set_blocked(stack.db, 1001, True)
    await stack.settle()
    for path in API_GETS:
        await error_of(await stack.get(path, alice), 403, "user_blocked")
    for path, body in API_POSTS.items():
        await error_of(await stack.post(path, alice, body), 403, "user_blocked")
    # A changed profile goes through the database path: still blocked.
    await error_of(await stack.get("/api/me", {**alice, "username": "new_name"}), 403, "user_blocked")
    assert await stack.db.fetchval("SELECT COUNT(*) FROM invoices") == 0
    # Unblocked: welcome back.
    assert await set_blocked(stack.db, 1001, False)
    await stack.settle()
    assert (await visit(stack, alice))["tg_id"] == 1001

    # A user registered through the bot (/start) and blocked, maybe before this read model polled.
    assert not await set_blocked(stack.db, 1003, True)  # no such user yet
    bob = stack.botapi.make_user(1003, "Bob")
    stack.botapi.send_text(bob, "/start")
    await stack.botapi.wait_for_call("sendMessage", lambda p: p["chat_id"] == 1003)
    assert await set_blocked(stack.db, 1003, True)
    await error_of(await stack.get("/api/me", bob), 403, "user_blocked")


async def test_the_same_initdata_rechecked_after_a_change(stack):
    """A Mini App session sends one initData with every request, and the API remembers
    that it matched the user's record: a block or a profile change made elsewhere (the
    CLI, another process, another session) must still be seen by that very string."""
    alice = stack.user(1011, username="alice")
    headers = stack.auth(alice)
    for _ in range(2):  # the first request records it; the second takes the remembered path
        resp = await stack.client.get("/api/leaderboard/all-time", headers=headers)
        assert resp.status == 200, await resp.text()
    assert await set_blocked(stack.db, 1011, True)
    await stack.settle()
    for path in ("/api/leaderboard/all-time", "/api/me"):
        await error_of(await stack.client.get(path, headers=headers), 403, "user_blocked")
    assert await set_blocked(stack.db, 1011, False)
    await stack.settle()
    # Renamed from another session: the old string's profile differs from the record
    # now, so it is written again (the newest initData seen wins, as on a first visit).
    await visit(stack, {**alice, "username": "alice_elsewhere"})
    assert (await _db_user(stack, 1011))["username"] == "alice_elsewhere"
    me = await (await stack.client.get("/api/me", headers=headers)).json()
    assert me["username"] == "alice"
    assert (await _db_user(stack, 1011))["username"] == "alice"


async def test_referral_through_start_param(stack):
    referrer = stack.user(2001, username="inviter")
    await visit(stack, referrer)

    # A new user opening ref_<id> is attached to that referrer.
    me = await visit(stack, stack.user(2002), start_param="ref_2001")
    assert me["referrer_id"] == 2001
    assert (await _db_user(stack, 2002))["referrer_id"] == 2001
    await stack.settle()
    inviter = await visit(stack, referrer)
    assert inviter["referrals_count"] == 1
    assert inviter["referral_link"] == "https://t.me/tondonate_test_bot?startapp=ref_2001"

    refused = {
        2003: "ref_2003",  # self
        2004: "ref_999999",  # unknown referrer
        2005: "ref_abc",  # malformed
        2006: "ref_0",  # not an id
        2007: "ref_2001x",
        2008: "2001",
        2009: "ref_99999999999999999999",  # beyond 64 bits
    }
    for tg_id, start_param in refused.items():
        me = await visit(stack, stack.user(tg_id), start_param=start_param)
        assert me["referrer_id"] is None, start_param
        assert (await _db_user(stack, tg_id))["referrer_id"] is None

    # An existing user never gets (or changes) a referrer, whatever start_param says later.
    assert (await visit(stack, referrer, start_param="ref_2002"))["referrer_id"] is None
    assert (await visit(stack, stack.user(2002), start_param="ref_2004"))["referrer_id"] == 2001
    assert (await _db_user(stack, 2001))["referrer_id"] is None

    # A blocked referrer cannot recruit.
    await set_blocked(stack.db, 2004, True)
    assert (await visit(stack, stack.user(2010), start_param="ref_2004"))["referrer_id"] is None

    await stack.settle()
    assert (await visit(stack, referrer))["referrals_count"] == 1
    assert await stack.db.fetchval("SELECT referrals_count FROM referrer_totals WHERE referrer_id = 2001") == 1


async def test_referral_attach_endpoint(stack):
    referrer = stack.user(3001)
    await visit(stack, referrer)

    # Explicit attach as the very first request of a new user.
    resp = await stack.post("/api/referral/attach", stack.user(3002), {"referrer_id": 3001})
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"attached": True, "referrer_id": 3001}
    assert (await visit(stack, stack.user(3002)))["referrer_id"] == 3001
    await stack.settle()
    assert (await visit(stack, referrer))["referrals_count"] == 1

    # The same rule as start_param: an existing user, self, unknown.
    await error_of(
        await stack.post("/api/referral/attach", stack.user(3002), {"referrer_id": 3001}), 409, "already_registered"
    )
    await error_of(await stack.post("/api/referral/attach", referrer, {"referrer_id": 3002}), 409, "already_registered")
    await error_of(
        await stack.post("/api/referral/attach", stack.user(3003), {"referrer_id": 3003}), 400, "self_referral"
    )
    await error_of(
        await stack.post("/api/referral/attach", stack.user(3004), {"referrer_id": 424242}), 404, "unknown_referrer"
    )
    for tg_id in (3003, 3004):  # the refused attach still created the user, without a referrer
        assert (await _db_user(stack, tg_id))["referrer_id"] is None
    assert (await _db_user(stack, 3001))["referrer_id"] is None

    # Bad bodies are 400, and create nobody.
    newcomer = stack.user(3005)
    for body in (
        {},
        {"referrer_id": None},
        {"referrer_id": "3001"},
        {"referrer_id": 3001.5},
        {"referrer_id": True},
        {"referrer_id": 0},
        {"referrer_id": -5},
        {"referrer_id": 2**63},
        [3001],
        "3001",
        3001,
    ):
        await error_of(await stack.post("/api/referral/attach", newcomer, body), 400)
    headers = stack.auth(newcomer)
    for data in (
        b"{",
        b"\xff\xfe",
        b"[" * 5000,
        b'{"referrer_id": 1e400}',
        b'{"referrer_id": 99999999999999999999999}',
    ):
        resp = await stack.client.post(
            "/api/referral/attach", data=data, headers={**headers, "Content-Type": "application/json"}
        )
        await error_of(resp, 400)
    resp = await stack.client.post(
        "/api/referral/attach",
        data=b"referrer_id=3001",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    await error_of(resp, 400, "invalid_body")
    assert await _db_user(stack, 3005) is None

    await stack.settle()
    assert (await visit(stack, referrer))["referrals_count"] == 1


async def test_more_init_data_attacks_are_401(stack):
    """What test_bad_init_data_is_401 leaves out: the hash's spelling, removed and repeated
    dates, and dates far off either way."""
    alice = stack.user(1001)
    now = int(time.time())
    good = sign_init_data(TOKEN, alice)
    fields = _fields(good)
    hash_ = dict(fields)["hash"]
    cases = {
        # Telegram sends the hash in lower case; another spelling of it is not what was signed.
        "uppercase hash": (
            _reencode([(k, v.upper() if k == "hash" else v) for k, v in fields]),
            "invalid_init_data_hash",
        ),
        "hash with a blank": (good.replace(hash_, hash_[:-1] + " "), "invalid_init_data_hash"),
        "non-ASCII hash": (good.replace(hash_, quote("é" * 64)), "invalid_init_data_hash"),
        "auth_date removed": (_reencode([(k, v) for k, v in fields if k != "auth_date"]), "invalid_init_data_hash"),
        "auth_date repeated": (good + "&auth_date=" + str(now), "malformed_init_data"),
        "auth_date repeated, same value": (good + "&auth_date=" + dict(fields)["auth_date"], "malformed_init_data"),
        "user removed": (_reencode([(k, v) for k, v in fields if k != "user"]), "invalid_init_data_hash"),
        "far future": (sign_init_data(TOKEN, alice, auth_date=now + 10**9), "init_data_from_future"),
        "beyond 64 bits": (sign_init_data(TOKEN, alice, auth_date=10**30), "init_data_from_future"),
        "just beyond the skew": (sign_init_data(TOKEN, alice, auth_date=now + 90), "init_data_from_future"),
        "negative": (sign_init_data(TOKEN, alice, auth_date=-1), "init_data_expired"),
        "zero": (sign_init_data(TOKEN, alice, auth_date=0), "init_data_expired"),
        "another bot, else perfect": (sign_init_data(OTHER_TOKEN, alice), "invalid_init_data_hash"),
        "the hash of another bot's string": (
            _reencode(
                [
                    (k, dict(_fields(sign_init_data(OTHER_TOKEN, alice)))["hash"] if k == "hash" else v)
                    for k, v in fields
                ]
            ),
            "invalid_init_data_hash",
        ),
    }
    for name, (raw, code) in cases.items():
        for path in ("/api/me", "/api/leaderboard/all-time"):
            resp = await stack.client.get(path, headers={"Authorization": "tma " + raw})
            assert resp.status == 401, (name, path, await resp.text())
            await error_of(resp, 401, code)
        resp = await stack.client.post(
            "/api/payments/create-invoice", json={"stars_amount": 5}, headers={"Authorization": "tma " + raw}
        )
        await error_of(resp, 401, code)
    assert await stack.db.fetchval("SELECT COUNT(*) FROM users") == 0
    assert (await stack.client.get("/api/me", headers={"Authorization": "tma " + good})).status == 200


async def _post_huge(port: int, path: str, headers: dict[str, str], size: int, sent: int) -> tuple[float, int, dict]:
    """POST announcing ``size`` bytes of body but sending only ``sent`` of them: the answer
    must come without the server waiting for the rest.  Returns (seconds, status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(head.encode() + b"\r\n" + b'{"stars_amount": 5, "pad": "' + b"x" * sent)
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        head_rest = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        length = int(
            next(line.split(b":")[1] for line in head_rest.split(b"\r\n") if line.lower().startswith(b"content-length"))
        )
        body = orjson.loads(await asyncio.wait_for(reader.readexactly(length), timeout=5))
        return time.monotonic() - started, int(status_line.split()[1]), body
    finally:
        writer.close()


async def test_a_10_mb_body_is_refused_at_once_without_being_read(stack):
    port = stack.client.port
    alice = stack.user(1001)
    invoice = "/api/payments/create-invoice"
    for path, headers, status, code in (
        (invoice, stack.auth(alice), 413, "payload_too_large"),
        ("/api/referral/attach", stack.auth(stack.user(1002)), 413, "payload_too_large"),
        (invoice, {}, 401, "missing_init_data"),  # refused before any of the body is read
        (invoice, {"Authorization": "tma " + sign_init_data(OTHER_TOKEN, alice)}, 401, "invalid_init_data_hash"),
    ):
        elapsed, got, body = await _post_huge(port, path, headers, size=10 * 2**20, sent=200_000)
        assert (got, body["error"]["code"]) == (status, code), (path, got, body)
        assert set(body["error"]) == {"code", "message"} and elapsed < 2, elapsed
    # The whole 10 MB sent, as a client that does not wait would: the same answer, as fast.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(
        f"POST {invoice} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {10 * 2**20}\r\n"
        f"Authorization: {stack.auth(alice)['Authorization']}\r\n\r\n".encode()
    )
    writer.write(b"[" * (10 * 2**20))
    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    assert status_line.split()[1] == b"413" and time.monotonic() - started < 3
    assert await stack.db.fetchval("SELECT COUNT(*) FROM invoices") == 0


async def test_a_first_visit_the_database_cannot_save_is_a_503_not_a_500(stack):
    """A full disk (here: a trigger refusing every new user) is the database's refusal, not a
    bug: 503 database_unavailable with Retry-After, and the next visit, once mended, works."""
    from ledger_support import break_donations, mend_donations

    await break_donations(stack.db, table="users")
    try:
        resp = await stack.get("/api/me", {"id": 8_800_001, "first_name": "Late"})
        await error_of(resp, 503, "database_unavailable")
        assert resp.headers["Retry-After"] == "5"
    finally:
        await mend_donations(stack.db, table="users")
    await visit(stack, {"id": 8_800_001, "first_name": "Late"})
