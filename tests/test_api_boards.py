"""GET /api/me and the three leaderboards: totals, ranks, ties, pagination, weeks, referrals, delisting.

Users are made through the API, donations through an invoice from the API and
``Ledger.credit`` with an explicit ``paid_at`` (the bot's successful_payment
path), then ``stack.settle()`` applies them to the read model.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from api_support import (  # noqa: F401  (fixtures)
    BERLIN,
    api_db_url,
    app_stack,
    berlin,
    configure,
    donate,
    error_of,
    stack,
    visit,
)
from conftest import Stack

from tondonate.server import appkeys
from tondonate.users import set_blocked
from tondonate.weeks import current_week_key

pytestmark = pytest.mark.asyncio(loop_scope="module")

ME_KEYS = {
    "tg_id",
    "username",
    "first_name",
    "photo_url",
    "tons_total",
    "tons_week",
    "rank_all_time",
    "rank_week",
    "referrals_count",
    "referrals_tons_total",
    "referrals_tons_week",
    "rank_referrals",
    "referrer_id",
    "referral_link",
    "week_key",
}
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


async def board(stack, path: str, user: dict, **query) -> dict:
    query_string = "&".join(f"{k}={v}" for k, v in query.items())
    resp = await stack.client.get(f"{path}?{query_string}" if query else path, headers=stack.auth(user))
    assert resp.status == 200, await resp.text()
    return await resp.json()


def ids(page: dict) -> list[int]:
    return [item["tg_id"] for item in page["items"]]


def ranks(page: dict) -> list[int]:
    return [item["rank"] for item in page["items"]]


async def test_empty_boards_and_a_new_users_me(stack):
    alice = stack.user(101, username="alice", photo_url="https://t.me/i/a.jpg")
    me = await visit(stack, alice)
    week = current_week_key(BERLIN)
    assert me == {
        "tg_id": 101,
        "username": "alice",
        "first_name": "User101",
        "photo_url": "https://t.me/i/a.jpg",
        "tons_total": "0.00",
        "tons_week": "0.00",
        "rank_all_time": None,
        "rank_week": None,
        "referrals_count": 0,
        "referrals_tons_total": "0.00",
        "referrals_tons_week": "0.00",
        "rank_referrals": None,
        "referrer_id": None,
        "referral_link": "https://t.me/tondonate_test_bot?startapp=ref_101",
        "week_key": week,
    }
    page = await board(stack, "/api/leaderboard/all-time", alice)
    assert page == {"items": [], "limit": 50, "offset": 0, "next_offset": None, "me": None}
    page = await board(stack, "/api/leaderboard/referrals", alice)
    assert page == {"items": [], "limit": 50, "offset": 0, "next_offset": None, "period": "all", "me": None}
    page = await board(stack, "/api/leaderboard/week", alice)
    assert (page["items"], page["next_offset"], page["me"], page["week_key"]) == ([], None, None, week)
    # The current week in Europe/Berlin, as ISO 8601 with the offset of that moment.
    start, end = datetime.fromisoformat(page["week_start"]), datetime.fromisoformat(page["week_end"])
    assert ISO_WITH_OFFSET.match(page["week_start"]) and ISO_WITH_OFFSET.match(page["week_end"])
    assert start.timestamp() <= time.time() < end.timestamp()
    local = start.astimezone(BERLIN)
    assert (local.weekday(), local.hour, local.minute) == (0, 0, 0)
    assert start.utcoffset() == local.utcoffset()
    assert (end.astimezone(BERLIN) - local) == timedelta(days=7)


async def test_me_totals_ranks_and_formatting(stack):
    now = int(time.time())
    old = berlin(2026, 1, 7, 12, 0, 0)  # a past week
    ref, donor, other = stack.user(201, username="ref"), stack.user(202), stack.user(203)
    await visit(stack, ref)
    await visit(stack, donor, start_param="ref_201")
    await donate(stack, donor, 30, old)
    await donate(stack, donor, 5, now)
    await donate(stack, other, 40, old)
    await donate(stack, other, 1, now)
    await stack.settle()

    me = await visit(stack, donor)
    assert set(me) == ME_KEYS
    assert (me["tons_total"], me["tons_week"], me["rank_all_time"], me["rank_week"]) == ("35.00", "5.00", 2, 1)
    assert (me["referrer_id"], me["referrals_count"], me["rank_referrals"]) == (201, 0, None)
    me = await visit(stack, ref)
    assert (me["tons_total"], me["rank_all_time"], me["rank_week"]) == ("0.00", None, None)
    assert (me["referrals_count"], me["referrals_tons_total"], me["referrals_tons_week"], me["rank_referrals"]) == (
        1,
        "35.00",
        "5.00",
        1,
    )

    page = await board(stack, "/api/leaderboard/all-time", donor)
    assert page["items"] == [
        {"rank": 1, "tg_id": 203, "username": None, "first_name": "User203", "photo_url": None, "tons_total": "41.00"},
        {"rank": 2, "tg_id": 202, "username": None, "first_name": "User202", "photo_url": None, "tons_total": "35.00"},
    ]
    assert page["me"] == {"rank": 2, "tons_total": "35.00"}
    page = await board(stack, "/api/leaderboard/week", donor)
    assert [(i["tg_id"], i["tons_week"]) for i in page["items"]] == [(202, "5.00"), (203, "1.00")]
    assert page["me"] == {"rank": 1, "tons_week": "5.00"}

    # Tons are decimal strings with exactly tons.decimals digits, whatever the rate.
    await configure(stack, **{"rate.static_tons_per_star": "1.25"})
    await donate(stack, stack.user(204), 10, now)
    await configure(stack, **{"tons.decimals": 3})
    await stack.settle()
    me = await visit(stack, stack.user(204))
    assert (me["tons_total"], me["tons_week"], me["referrals_tons_total"]) == ("12.500", "12.500", "0.000")
    page = await board(stack, "/api/leaderboard/all-time", donor)
    assert [i["tons_total"] for i in page["items"]] == ["41.000", "35.000", "12.500"]
    await configure(stack, **{"tons.decimals": 0})
    page = await board(stack, "/api/leaderboard/all-time", donor)
    assert [i["tons_total"] for i in page["items"]] == ["41", "35", "12"]

    # A changed profile shows on the boards at once.
    await visit(stack, {**donor, "username": "renamed", "first_name": "Renamed"})
    page = await board(stack, "/api/leaderboard/all-time", other)
    assert (page["items"][1]["username"], page["items"][1]["first_name"]) == ("renamed", "Renamed")


async def test_pagination(stack):
    now = int(time.time())
    donors = [stack.user(300 + n) for n in range(1, 8)]
    for n, user in enumerate(donors):  # 301 gives 70 ... 307 gives 10
        await donate(stack, user, 70 - 10 * n, now)
    await stack.settle()
    viewer = donors[4]  # rank 5
    expected = [u["id"] for u in donors]
    for path, field in (("/api/leaderboard/all-time", "tons_total"), ("/api/leaderboard/week", "tons_week")):
        full = await board(stack, path, viewer, limit=100)
        assert (ids(full), ranks(full), full["next_offset"], full["limit"]) == (
            expected,
            [1, 2, 3, 4, 5, 6, 7],
            None,
            100,
        )
        assert full["me"] == {"rank": 5, field: "30.00"}
        # Pages of 3: ranks continue across pages, next_offset is null on the last one.
        pages = [await board(stack, path, viewer, limit=3, offset=offset) for offset in (0, 3, 6)]
        assert [p["next_offset"] for p in pages] == [3, 6, None]
        assert [p["offset"] for p in pages] == [0, 3, 6]
        assert sum((p["items"] for p in pages), []) == full["items"]
        assert all(p["me"] == full["me"] for p in pages)  # me does not depend on the page
        # Edges.
        one = await board(stack, path, viewer, limit=1)
        assert (ids(one), ranks(one), one["next_offset"]) == ([301], [1], 1)
        last = await board(stack, path, viewer, limit=1, offset=6)
        assert (ids(last), ranks(last), last["next_offset"]) == ([307], [7], None)
        exact = await board(stack, path, viewer, limit=7)
        assert (len(exact["items"]), exact["next_offset"]) == (7, None)
        assert (await board(stack, path, viewer, limit=6))["next_offset"] == 6
        for offset in (7, 8, 1000, 2**53 - 1):  # beyond the end: an empty last page
            beyond = await board(stack, path, viewer, offset=offset)
            assert (beyond["items"], beyond["next_offset"], beyond["offset"]) == ([], None, offset)
            assert beyond["me"] == full["me"]
        assert (await board(stack, path, viewer, limit="%2010%20"))["limit"] == 10  # blanks around are fine
        # Anything but an integer in range is a 400 naming the parameter.
        for query in (
            "limit=101",
            "limit=0",
            "limit=-1",
            "limit=abc",
            "limit=",
            "limit=1.5",
            "limit=1e2",
            "limit=0x10",
            "limit=%C2%B2",
            "limit=%D9%A3",
            "limit=%EF%BC%95",
            "limit=%2B5",
            "limit=%2D1",
            "limit=5&limit=6",
            "limit=99999999999999999999999",
            "offset=-1",
            "offset=abc",
            "offset=",
            "offset=1.0",
            f"offset={2**53}",
            "offset=0&offset=1",
            "limit=10;offset=1",
        ):
            resp = await stack.client.get(f"{path}?{query}", headers=stack.auth(viewer))
            error = await error_of(resp, 400, "invalid_parameter")
            assert ("limit" if query.startswith("limit") else "offset") in error["message"], query
    # The referral board takes the same paging parameters.
    for query in ("limit=101", "limit=0", "offset=-1", "period=month", "period=ALL", "period=all&period=week"):
        await error_of(await stack.client.get(f"/api/leaderboard/referrals?{query}", headers=stack.auth(viewer)), 400)

    # limit defaults to leaderboard.page_size.
    await configure(stack, **{"leaderboard.page_size": 2})
    page = await board(stack, "/api/leaderboard/all-time", viewer)
    assert (page["limit"], ids(page), page["next_offset"]) == (2, [301, 302], 2)
    page = await board(stack, "/api/leaderboard/week", viewer, offset=6)
    assert (page["limit"], ids(page), page["next_offset"]) == (2, [307], None)


async def test_ties_go_to_who_reached_the_total_first_then_the_lower_id(stack):
    t0 = berlin(2026, 3, 11, 12, 0, 0)  # a Wednesday of 2026-W11
    u = {n: stack.user(n) for n in (501, 502, 503, 505, 507, 509)}
    # Credited in an order that is neither the ranking nor the ids' order.
    await donate(stack, u[507], 5, t0)
    await donate(stack, u[505], 10, t0 + 30)
    await donate(stack, u[502], 5, t0 - 100)
    await donate(stack, u[509], 10, t0 + 10)
    await donate(stack, u[503], 10, t0 + 30)
    await donate(stack, u[507], 5, t0 + 40)  # 507 reaches 10 last
    await donate(stack, u[501], 20, t0 + 90)
    await stack.settle()
    expected = [501, 509, 503, 505, 507, 502]
    page = await board(stack, "/api/leaderboard/all-time", u[505])
    assert ids(page) == expected and ranks(page) == [1, 2, 3, 4, 5, 6]
    assert [i["tons_total"] for i in page["items"]] == ["20.00", "10.00", "10.00", "10.00", "10.00", "5.00"]
    assert page["me"] == {"rank": 4, "tons_total": "10.00"}
    page = await board(stack, "/api/leaderboard/week", u[505], week_key="2026-W11")
    assert ids(page) == expected and page["me"] == {"rank": 4, "tons_week": "10.00"}
    # Stable across pages of every size.
    for limit in (1, 2, 4):
        got = []
        for offset in range(0, 6, limit):
            got += ids(await board(stack, "/api/leaderboard/all-time", u[501], limit=limit, offset=offset))
        assert got == expected
    # A later donation moves a user ahead; reaching a tie later puts them behind.
    await donate(stack, u[502], 5, t0 + 100)  # 502: 10, reached last of all
    await stack.settle()
    assert ids(await board(stack, "/api/leaderboard/all-time", u[501])) == [501, 509, 503, 505, 507, 502]
    await donate(stack, u[502], 1, t0 + 101)
    await stack.settle()
    assert ids(await board(stack, "/api/leaderboard/all-time", u[501])) == [501, 502, 509, 503, 505, 507]


async def test_week_boundaries_and_past_weeks(stack):
    sunday = berlin(2026, 3, 8, 23, 59, 59)  # last second of 2026-W10 in Berlin (22:59:59 UTC)
    monday = berlin(2026, 3, 9, 0, 0, 0)  # first second of 2026-W11 (Sunday 23:00 UTC: still W10 in UTC)
    late, early, now_donor = stack.user(601), stack.user(602), stack.user(603)
    await donate(stack, late, 10, sunday)
    await donate(stack, early, 7, monday)
    await donate(stack, now_donor, 1, int(time.time()))
    await stack.settle()

    w10 = await board(stack, "/api/leaderboard/week", late, week_key="2026-W10")
    assert [(i["tg_id"], i["tons_week"]) for i in w10["items"]] == [(601, "10.00")]
    assert (w10["week_key"], w10["me"]) == ("2026-W10", {"rank": 1, "tons_week": "10.00"})
    assert (w10["week_start"], w10["week_end"]) == ("2026-03-02T00:00:00+01:00", "2026-03-09T00:00:00+01:00")
    w11 = await board(stack, "/api/leaderboard/week", late, week_key="2026-W11")
    assert [(i["tg_id"], i["tons_week"]) for i in w11["items"]] == [(602, "7.00")]
    assert w11["me"] is None
    # A week with the switch to summer time: its offsets differ at both ends.
    w13 = await board(stack, "/api/leaderboard/week", late, week_key="2026-W13")
    assert (w13["items"], w13["week_start"], w13["week_end"]) == (
        [],
        "2026-03-23T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
    )
    # The default is the current week; all-time has everyone.
    current = await board(stack, "/api/leaderboard/week", late)
    assert (current["week_key"], ids(current)) == (current_week_key(BERLIN), [603])
    explicit = await board(stack, "/api/leaderboard/week", late, week_key=current["week_key"])
    assert explicit == current
    assert ids(await board(stack, "/api/leaderboard/all-time", late)) == [601, 602, 603]
    me = await visit(stack, late)
    assert (me["tons_total"], me["tons_week"], me["rank_week"]) == ("10.00", "0.00", None)
    # Any week stays queryable: long ago, the first and last weeks the calendar can bound, and the future.
    for key, start in (
        ("2020-W01", "2019-12-30T00:00:00+01:00"),
        ("2020-W53", "2020-12-28T00:00:00+01:00"),
        ("0001-W02", "0001-01-07T23:06:32+00:00"),
        ("9999-W51", "9999-12-20T00:00:00+01:00"),
        ("2099-W10", "2099-03-02T00:00:00+01:00"),
    ):
        page = await board(stack, "/api/leaderboard/week", late, week_key=key)
        assert (page["items"], page["week_key"], page["week_start"]) == ([], key, start)
        assert ISO_WITH_OFFSET.match(page["week_end"])
    # Malformed (or unbounded) week keys are a 400.
    for bad in (
        "2026W10",
        "2026-w10",
        "2026-W1",
        "2026-W010",
        "26-W10",
        "2026-W00",
        "2026-W54",
        "2025-W53",
        "abcd-W10",
        "2026-W10x",
        "%202026-W10",
        "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-W10",
        "0000-W01",
        "0001-W01",
        "9999-W52",
        "2026-W10&week_key=2026-W11",
        "",  # the document's pattern refuses an empty week_key: leave it out for the current week
    ):
        resp = await stack.client.get(f"/api/leaderboard/week?week_key={bad}", headers=stack.auth(late))
        await error_of(resp, 400, "invalid_week_key")


async def test_referrals_board(stack):
    now = int(time.time())
    past = berlin(2026, 2, 4, 12, 0, 0)
    a, b, c = stack.user(701, username="a"), stack.user(702), stack.user(703)
    for referrer in (a, b, c):
        await visit(stack, referrer)
    a1, a2, b1, c1 = stack.user(711), stack.user(712), stack.user(721), stack.user(731)
    await visit(stack, a1, start_param="ref_701")
    await visit(stack, a2, start_param="ref_701")
    await visit(stack, b1, start_param="ref_702")
    await visit(stack, c1, start_param="ref_703")  # c's referral never donates: c is not listed
    await donate(stack, a1, 30, past)
    await donate(stack, a2, 5, now)  # a reaches 35 at `now`
    await donate(stack, b1, 20, now)
    await stack.settle()

    page = await board(stack, "/api/leaderboard/referrals", a)
    assert page["period"] == "all" and page["next_offset"] is None
    assert page["items"] == [
        {
            "rank": 1,
            "tg_id": 701,
            "username": "a",
            "first_name": "User701",
            "photo_url": None,
            "referrals_count": 2,
            "referrals_tons_total": "35.00",
            "referrals_tons_week": "5.00",
        },
        {
            "rank": 2,
            "tg_id": 702,
            "username": None,
            "first_name": "User702",
            "photo_url": None,
            "referrals_count": 1,
            "referrals_tons_total": "20.00",
            "referrals_tons_week": "20.00",
        },
    ]
    assert page["me"] == {
        "rank": 1,
        "referrals_count": 2,
        "referrals_tons_total": "35.00",
        "referrals_tons_week": "5.00",
    }
    week = await board(stack, "/api/leaderboard/referrals", a, period="week")
    assert (week["period"], ids(week), ranks(week)) == ("week", [702, 701], [1, 2])
    assert week["me"] == {**page["me"], "rank": 2}
    assert (await board(stack, "/api/leaderboard/referrals", c))["me"] is None
    assert (await board(stack, "/api/leaderboard/referrals", a, period="all"))["items"] == page["items"]
    page2 = await board(stack, "/api/leaderboard/referrals", a, limit=1, offset=1)
    assert (ids(page2), ranks(page2), page2["next_offset"]) == ([702], [2], None)
    assert (await visit(stack, c))["referrals_count"] == 1

    # A tie between referrers goes to whoever's referrals reached it first, then the lower id.
    await donate(stack, c1, 35, now + 5)  # c: 35 like a, reached later
    await stack.settle()
    assert ids(await board(stack, "/api/leaderboard/referrals", a)) == [701, 703, 702]
    me = await visit(stack, c)
    assert (me["rank_referrals"], me["referrals_tons_total"]) == (2, "35.00")


async def test_blocked_and_zero_users_are_not_listed(stack):
    now = int(time.time())
    past_week = "2026-W06"
    past = berlin(2026, 2, 4, 12, 0, 0)
    top, blocked, third, zero = stack.user(801), stack.user(802), stack.user(803), stack.user(804)
    referral = stack.user(812)
    await visit(stack, blocked)
    await visit(stack, referral, start_param="ref_802")
    await donate(stack, top, 30, now)
    await donate(stack, blocked, 20, now)
    await donate(stack, blocked, 50, past)
    await donate(stack, third, 10, now)
    await donate(stack, referral, 5, now)
    charge = await donate(stack, zero, 15, now)
    await stack.settle()
    viewer = top
    assert ids(await board(stack, "/api/leaderboard/all-time", viewer)) == [802, 801, 804, 803, 812]
    assert ids(await board(stack, "/api/leaderboard/week", viewer, week_key=past_week)) == [802]  # now cached
    assert ids(await board(stack, "/api/leaderboard/referrals", viewer)) == [802]

    # A refund back to zero takes the user off every board.
    assert await stack.app[appkeys.LEDGER].refund(charge) == "refunded"
    await stack.settle()
    assert ids(await board(stack, "/api/leaderboard/all-time", viewer)) == [802, 801, 803, 812]
    assert ids(await board(stack, "/api/leaderboard/week", viewer)) == [801, 802, 803, 812]
    assert (await visit(stack, zero))["rank_all_time"] is None

    # Blocked: off the all-time, current, past-week and referral boards; the ranks close up.
    assert await set_blocked(stack.db, 802, True)
    await stack.settle()
    for page in (
        await board(stack, "/api/leaderboard/all-time", viewer),
        await board(stack, "/api/leaderboard/week", viewer),
    ):
        assert (ids(page), ranks(page)) == ([801, 803, 812], [1, 2, 3])
    assert ids(await board(stack, "/api/leaderboard/week", viewer, week_key=past_week)) == []
    assert ids(await board(stack, "/api/leaderboard/referrals", viewer)) == []
    assert ids(await board(stack, "/api/leaderboard/referrals", viewer, period="week")) == []
    me = await visit(stack, referral)  # the blocked user's referral is listed as usual
    assert (me["rank_all_time"], me["referrer_id"]) == (3, 802)
    await error_of(await stack.get("/api/me", blocked), 403, "user_blocked")

    # Unblocked: back in place.
    assert await set_blocked(stack.db, 802, False)
    await stack.settle()
    assert ids(await board(stack, "/api/leaderboard/all-time", viewer)) == [802, 801, 803, 812]
    assert ids(await board(stack, "/api/leaderboard/week", viewer, week_key=past_week)) == [802]
    assert ids(await board(stack, "/api/leaderboard/referrals", viewer)) == [802]
    assert (await visit(stack, blocked))["rank_referrals"] == 1


async def test_referral_link_uses_the_short_name(stack):
    """With webapp.short_name the link opens the named Mini App; the bot username comes from getMe."""
    from tondonate.server import create_app

    config = stack.app[appkeys.CONFIG].replace(webapp={"url": "https://example.org/app", "short_name": "donate"})
    client = TestClient(TestServer(create_app(config, run_bot=False)))
    await client.start_server()
    try:
        other = Stack(client, stack.botapi, client.app)
        me = await visit(other, other.user(901))
        assert me["referral_link"] == "https://t.me/tondonate_test_bot/donate?startapp=ref_901"
    finally:
        await client.close()


async def test_board_ranks_follow_every_change():
    from tondonate.readmodel import Board

    board = Board.build([(1, 50, 10), (2, 40, 11), (3, 30, 12)], lambda _id: True)
    assert [board.rank(i) for i in (1, 2, 3, 4)] == [1, 2, 3, None]
    assert board.set(3, 60, 20)  # 3 overtakes everyone
    assert [board.rank(i) for i in (1, 2, 3)] == [2, 3, 1]
    assert not board.set(3, 60, 20)  # nothing moved
    assert [board.rank(i) for i in (1, 2, 3)] == [2, 3, 1]
    assert board.set(1, 0, 30)  # back to zero: off the board
    assert [board.rank(i) for i in (1, 2, 3, 4)] == [None, 2, 1, None]
    assert board.set(4, 45, 31)  # a newcomer asked before it was listed
    assert [board.rank(i) for i in (2, 3, 4)] == [3, 1, 2]


async def test_board_ranks_match_sortedlist_index_through_random_changes():
    """Board's rank reads the SortedList's sublists directly; it must agree with
    SortedList.index on every entry, across sublist splits and merges."""
    import random

    from tondonate.readmodel import Board

    rng = random.Random(5)
    board = Board.build([(i, rng.randrange(1, 500), i) for i in range(1, 3001)], lambda _id: True)
    board._sorted._reset(50)  # small sublists: many splits and merges below
    for step in range(4000):
        entity = rng.randrange(1, 4001)
        board.set(entity, rng.choice((0, rng.randrange(1, 500))), 10_000 + step)
        if step % 400 == 0 or step == 3999:
            for i, key in enumerate(board._sorted):
                entity = key & (2**64 - 1)
                assert board.rank(entity) == board._sorted.index(key) + 1 == i + 1
                assert board.page(i, 1) == [(i + 1, entity, board.tons(entity))]
            assert all(board.rank(e) is None for e in range(1, 4001) if e not in board._keys)


async def test_board_order_packs_tons_time_and_id():
    """Packed keys order like (-tons, reached_at, id), for huge amounts and the extremes too."""
    from tondonate.readmodel import Board

    rows = [(5, 10**30, 7), (2**63 - 1, 10**30, 7), (3, 10**30, 2**32 - 1), (4, 1, 0), (1, 1, 0), (6, 10**30, 0)]
    board = Board.build(rows, lambda _id: True)
    assert board.page(0, 10) == [
        (1, 6, 10**30),
        (2, 5, 10**30),
        (3, 2**63 - 1, 10**30),
        (4, 3, 10**30),
        (5, 1, 1),
        (6, 4, 1),
    ]
    with pytest.raises(ValueError):
        board.set(8, 1, 2**32)
