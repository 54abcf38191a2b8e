"""GET /api/config and POST /api/payments/create-invoice: presets, limits, quotes, 429, and a
paid invoice travelling through the real bot (the emulator's pay) onto the boards."""

from __future__ import annotations

import asyncio

import pytest
from api_support import BERLIN, api_db_url, app_stack, configure, error_of, stack, visit  # noqa: F401  (fixtures)

from tondonate.weeks import current_week_key

pytestmark = pytest.mark.asyncio(loop_scope="module")

CREATE = "/api/payments/create-invoice"


async def get_config(stack, user) -> dict:
    resp = await stack.get("/api/config", user)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def create(stack, user, body) -> dict:
    resp = await stack.post(CREATE, user, body)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_config(stack):
    alice = stack.user(1)
    assert await get_config(stack, alice) == {
        "presets": [{"id": "place1", "stars": 100}, {"id": "place2", "stars": 50}, {"id": "place3", "stars": 25}],
        "min_stars": 1,
        "max_stars": 10_000,
        "tons_per_star": "1",
        "rate_age_seconds": None,  # the static rate is not fetched
        "tons_decimals": 2,
        "tons_rounding": "down",
        "bot_username": "tondonate_test_bot",
        "week_key": current_week_key(BERLIN),
    }
    await configure(
        stack,
        **{
            "donations.presets": [300, 200, 100],
            "donations.min_stars": 5,
            "donations.max_stars": 500,
            "rate.static_tons_per_star": "0.0125",
            "tons.decimals": 3,
            "tons.rounding": "half_up",
        },
    )
    config = await get_config(stack, alice)
    assert [p["stars"] for p in config["presets"]] == [300, 200, 100]
    assert (
        config["min_stars"],
        config["max_stars"],
        config["tons_per_star"],
        config["tons_decimals"],
        config["tons_rounding"],
    ) == (5, 500, "0.0125", 3, "half_up")
    await configure(stack, **{"rate.static_tons_per_star": "1e1"})  # stored as Decimal("1E+1")
    assert (await get_config(stack, alice))["tons_per_star"] == "10"


async def test_create_invoice_custom_amounts_and_presets(stack):
    alice = stack.user(11, language_code="en")
    invoice = await create(stack, alice, {"stars_amount": 100})
    assert set(invoice) == {"invoice_id", "invoice_link", "stars_amount", "tons_amount"}
    assert (invoice["stars_amount"], invoice["tons_amount"]) == (100, "100.00")
    # The link is a real createInvoiceLink result whose payload is our invoice id.
    sent = stack.botapi.invoice(invoice["invoice_link"])
    assert (sent["payload"], sent["amount"], sent["currency"]) == (invoice["invoice_id"], 100, "XTR")
    row = await stack.db.fetchrow(
        "SELECT tg_id, stars_amount, preset_id, tons_per_star FROM invoices WHERE id = $1", invoice["invoice_id"]
    )
    assert (row["tg_id"], row["stars_amount"], row["preset_id"], row["tons_per_star"]) == (11, 100, None, "1")
    assert (await visit(stack, alice))["tg_id"] == 11  # the first request created the user

    # Presets: stars_amount may be omitted, and must match when given.
    assert (await create(stack, alice, {"preset_id": "place2"}))["stars_amount"] == 50
    assert (await create(stack, alice, {"preset_id": "place1", "stars_amount": 100}))["stars_amount"] == 100
    assert (await create(stack, alice, {"preset_id": "place3"}))["stars_amount"] == 25
    assert (await stack.db.fetchval("SELECT preset_id FROM invoices WHERE stars_amount = 25")) == "place3"
    # The edges of the custom range.
    assert (await create(stack, alice, {"stars_amount": 1}))["stars_amount"] == 1
    assert (await create(stack, alice, {"stars_amount": 10_000}))["stars_amount"] == 10_000

    # tons_amount is quoted at the rate of the moment, rounded per tons.rounding.
    await configure(stack, **{"rate.static_tons_per_star": "0.3333", "limits.invoices_per_minute": 100})
    assert (await create(stack, alice, {"stars_amount": 10}))["tons_amount"] == "3.33"
    await configure(stack, **{"tons.rounding": "up"})
    assert (await create(stack, alice, {"stars_amount": 10}))["tons_amount"] == "3.34"

    bob = stack.user(12)
    refused = [
        ({}, "missing_amount"),
        ({"stars_amount": None}, "invalid_amount"),  # null is no amount: leave the field out
        ({"preset_id": "place3", "stars_amount": None}, "invalid_amount"),
        ({"preset_id": None}, "invalid_preset"),
        ({"stars_amount": 0}, "amount_out_of_range"),
        ({"stars_amount": -5}, "amount_out_of_range"),
        ({"stars_amount": 10_001}, "amount_out_of_range"),
        ({"stars_amount": 2**63 - 1}, "amount_out_of_range"),
        ({"stars_amount": "100"}, "invalid_amount"),
        ({"stars_amount": 1.5}, "invalid_amount"),
        ({"stars_amount": True}, "invalid_amount"),
        ({"stars_amount": [100]}, "invalid_amount"),
        ({"preset_id": "place4"}, "invalid_preset"),
        ({"preset_id": ""}, "invalid_preset"),
        ({"preset_id": 1}, "invalid_preset"),
        ({"preset_id": ["place1"]}, "invalid_preset"),
        ({"preset_id": "PLACE1"}, "invalid_preset"),
        ({"preset_id": "place1", "stars_amount": 99}, "preset_mismatch"),
        ({"preset_id": "place1", "stars_amount": "100"}, "preset_mismatch"),
        ({"preset_id": "place1", "stars_amount": True}, "preset_mismatch"),
        ({"stars_amount": 5, "currency": "XTR"}, "invalid_body"),
        ([100], "invalid_body"),
        ("100", "invalid_body"),
        (100, "invalid_body"),
        (None, "invalid_body"),
    ]
    for body, code in refused:
        await error_of(await stack.post(CREATE, bob, body), 400, code)
    headers = stack.auth(bob)
    for data, content_type in (
        (b"{", "application/json"),
        (b"\xff", "application/json"),
        (b"stars_amount=5", "application/x-www-form-urlencoded"),
        (b'{"stars_amount": 5}', "application/octet-stream"),
        (b"", "application/json"),
        (b"[" * 100_000, "application/json"),
    ):
        resp = await stack.client.post(CREATE, data=data, headers={**headers, "Content-Type": content_type})
        assert 400 <= resp.status < 500, (data[:20], resp.status)
        await error_of(resp, resp.status)
    # A body beyond the server's size limit: 413, in the standard shape.
    resp = await stack.client.post(
        CREATE,
        data=b'{"stars_amount": 5, "x": "' + b"x" * 70_000 + b'"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    await error_of(resp, 413, "payload_too_large")
    # A text/plain JSON body (what fetch sends for a string body) is accepted.
    resp = await stack.client.post(
        CREATE, data=b'{"stars_amount": 5}', headers={**headers, "Content-Type": "text/plain;charset=UTF-8"}
    )
    assert resp.status == 200
    assert await stack.db.fetchval("SELECT COUNT(*) FROM invoices WHERE tg_id = 12") == 1


async def test_too_many_invoices_is_429_with_retry_after(stack):
    await configure(stack, **{"limits.invoices_per_minute": 3})
    alice, bob = stack.user(21), stack.user(22)
    for _ in range(3):
        await create(stack, alice, {"stars_amount": 5})
    # Refused requests cost nothing: they are checked before the limit and never stored.
    await error_of(await stack.post(CREATE, alice, {"stars_amount": 0}), 400)
    resp = await stack.post(CREATE, alice, {"preset_id": "place1"})
    await error_of(resp, 429, "rate_limited")
    retry_after = resp.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    await error_of(await stack.post(CREATE, alice, {"stars_amount": 7}), 429, "rate_limited")
    # Per user: bob is not affected.
    await create(stack, bob, {"stars_amount": 5})
    assert await stack.db.fetchval("SELECT COUNT(*) FROM invoices WHERE tg_id = 21") == 3
    # Once an invoice of the window is old enough the user may go on.
    await stack.db.execute("UPDATE invoices SET created_at = created_at - 61 WHERE tg_id = 21")
    await create(stack, alice, {"stars_amount": 5})


async def test_paid_invoice_credits_the_quoted_tons(stack):
    """Invoice from the API, paid in the emulator, credited by the real bot, shown by the API."""
    alice = stack.botapi.make_user(31, "Alice", "alice")
    await configure(stack, **{"rate.static_tons_per_star": "1.25"})
    invoice = await create(stack, alice, {"stars_amount": 10})
    assert invoice["tons_amount"] == "12.50"
    await configure(stack, **{"rate.static_tons_per_star": "2"})  # the quote holds for this invoice
    outcome = await stack.botapi.pay(alice, invoice["invoice_link"])
    assert outcome.ok, outcome
    await stack.botapi.wait_for_call("sendMessage", lambda p: p["chat_id"] == 31)  # the bot's thanks
    await stack.settle()
    me = await visit(stack, alice)
    assert (me["tons_total"], me["tons_week"], me["rank_all_time"], me["rank_week"]) == ("12.50", "12.50", 1, 1)
    page = await (await stack.get("/api/leaderboard/all-time", alice)).json()
    assert page["items"] == [
        {"rank": 1, "tg_id": 31, "username": "alice", "first_name": "Alice", "photo_url": None, "tons_total": "12.50"}
    ]
    assert (await create(stack, alice, {"stars_amount": 10}))["tons_amount"] == "20.00"


async def test_telegram_failure_is_a_502_in_the_standard_shape(stack):
    alice = stack.user(41)
    stack.botapi.fail_next("createInvoiceLink", 500)
    await error_of(await stack.post(CREATE, alice, {"stars_amount": 5}), 502, "telegram_unavailable")
    stack.botapi.fail_next("createInvoiceLink", 400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
    await error_of(await stack.post(CREATE, alice, {"stars_amount": 5}), 502, "telegram_unavailable")
    assert (await create(stack, alice, {"stars_amount": 5}))["stars_amount"] == 5


async def test_concurrent_invoices_of_one_user_respect_the_limit(stack):
    """The limit's check and the invoice's insert are one atomic step: 40 requests at once
    from one user get exactly `limit` invoices, the rest 429 (issue #19)."""
    await configure(stack, **{"limits.invoices_per_minute": 10})
    alice, bob = stack.user(51), stack.user(52)
    await visit(stack, alice)  # the user exists; the race is about the limit, not the first visit
    responses = await asyncio.gather(*(stack.post(CREATE, alice, {"stars_amount": 5}) for _ in range(40)))
    statuses = {status: [r.status for r in responses].count(status) for status in {r.status for r in responses}}
    assert statuses == {200: 10, 429: 30}, statuses
    for resp in responses:
        if resp.status == 429:
            await error_of(resp, 429, "rate_limited")
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert await stack.db.fetchval("SELECT COUNT(*) FROM invoices WHERE tg_id = 51") == 10
    # Another user is not held back by alice's storm.
    await create(stack, bob, {"stars_amount": 5})


async def test_an_invoice_worth_more_tons_than_a_payment_may_credit_is_refused(stack):
    """At the highest rate allowed, more Stars than one payment's tons bound: a clear 400
    before anything is stored (a payment of it would overflow the ledger: issue #19)."""
    await configure(stack, **{"rate.static_tons_per_star": "1000", "donations.max_stars": 100_000})
    alice = stack.user(61)
    assert (await create(stack, alice, {"stars_amount": 10_000}))["tons_amount"] == "10000000.00"
    error = await error_of(await stack.post(CREATE, alice, {"stars_amount": 10_001}), 400, "amount_too_large")
    assert "10000000 tons" in error["message"], error
    assert await stack.db.fetchval("SELECT COUNT(*) FROM invoices WHERE tg_id = 61") == 1
