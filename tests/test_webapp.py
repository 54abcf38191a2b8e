"""The Mini App in a real browser against the real server.

Chromium (Debian's, driven by Playwright) opens the page ``tondonate serve``
serves, with the launch parameters Telegram puts in the URL hash; the page's
init script plays Telegram's client (``TelegramWebviewProxy.postEvent`` records,
``Telegram.WebView.receiveEvent`` answers).  The server's bot long-polls a Bot
API emulator, so a payment goes the whole way: the app's create-invoice call ->
createInvoiceLink -> ``web_app_open_invoice`` -> the emulator's pre_checkout_query
-> the bot's answer -> successful_payment -> the ledger -> the read model -> the
page.  SQLite only: the dialects are covered by the API tests.

Every page must finish with no page error, no console error, no failed request,
and no request to another origin (the test users have no ``photo_url``; a real
Telegram user's avatar would load from t.me, the one cross-origin fetch the app
makes by design).

Screenshots (390x844, light and dark theme) go to ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio

try:
    from playwright.async_api import async_playwright, expect
except ImportError:  # the browser fixture skips (or, in CI, fails) and says why
    async_playwright = expect = None

from webapp_harness import (
    BOT_USERNAME,
    DARK_THEME,
    LAUNCH_ARGS,
    LIGHT_THEME,
    TOKEN,
    Backend,
    MiniApp,
    chromium_or_skip,
    tg_user,
)

# One browser for the module, so every test and fixture runs in the module's event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

DAY = 86_400

ANNA = tg_user(700_100_001, "Анна", "anna_star")
IVAN = tg_user(700_100_002, "Иван")
OLGA = tg_user(700_100_003, "Ольга", "olga_moon")
DIMA = tg_user(700_100_004, "Дмитрий", "dimon")
ALICE = tg_user(700_100_005, "Alice", "alice_w", language_code="en")
PAVEL = tg_user(700_100_006, "Павел Смирнов")
MASHA = tg_user(700_100_010, "Мария", "masha")  # the viewer of the seeded board


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser():
    executable = chromium_or_skip()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def telegram():
    """The Bot API stand-in (in this loop: its driver methods must run on its loop)."""
    from tondonate.emulator import BotAPIEmulator

    async with BotAPIEmulator(token=TOKEN, bot_username=BOT_USERNAME) as emulator:
        yield emulator


@pytest.fixture
def server_settings() -> dict:
    """Business settings for ``server`` (override with ``@pytest.mark.parametrize("server_settings", ...)``)."""
    return {}


@pytest_asyncio.fixture(loop_scope="module")
async def server(browser, telegram, tmp_path, server_settings):
    """``tondonate serve`` on a free port with a fresh SQLite database, polling the emulator."""
    async with Backend(telegram, tmp_path / "tondonate.db", **server_settings) as backend:
        yield backend


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(browser, tmp_path_factory):
    """A server with :func:`seed_board`'s data, shared by the tests that only look at it."""
    from tondonate.emulator import BotAPIEmulator

    async with (
        BotAPIEmulator(token=TOKEN, bot_username=BOT_USERNAME) as emulator,
        Backend(emulator, tmp_path_factory.mktemp("seeded") / "tondonate.db") as backend,
    ):
        await seed_board(backend)
        yield backend


@pytest_asyncio.fixture(loop_scope="module")
async def open_app(browser):
    """Factory: ``await open_app(backend, user, theme=..., start_param=...)`` -> a loaded :class:`MiniApp`.

    Every page is checked when the test ends: never reloaded, no page or console
    error, no failed request, nothing fetched from another origin.
    """
    apps: list[MiniApp] = []

    async def open_(backend: Backend, user: dict, **kwargs) -> MiniApp:
        app = await MiniApp.open(browser, backend.origin, user, **kwargs)
        apps.append(app)
        await app.testid("me-block").wait_for()
        await app.page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
        return app

    yield open_
    try:
        for app in apps:
            assert await app.page.evaluate("window.__sameDocument === true"), "the page reloaded"
            documents = [u for u in app.requests if urlsplit(u).path == "/"]
            assert len(documents) == 1, documents
            app.assert_clean()
    finally:
        for app in apps:
            await app.close()


async def seed_board(server: Backend) -> None:
    """Seven users, referrals and donations over two weeks, all through the API and the bot.

    All time:  Анна 500, Иван 290, Ольга 120, Мария 100, Дмитрий 75, Alice 60, Павел 15.
    This week: Анна 500, Ольга 120, Мария 100, Alice 60, Иван 40, Павел 15.
    Referrers: Анна (Иван, Ольга, Павел: 425), Ольга (Дмитрий: 75), Мария (Alice: 60).
    """
    await server.me(ANNA)
    await server.me(MASHA)
    for friend in (IVAN, OLGA, PAVEL):
        await server.me(friend, start_param=f"ref_{ANNA['id']}")
    await server.me(DIMA, start_param=f"ref_{OLGA['id']}")
    await server.me(ALICE, start_param=f"ref_{MASHA['id']}")
    last_week = int(time.time()) - 8 * DAY
    await asyncio.gather(
        server.donate(ANNA, 500),
        server.donate(IVAN, 250, date=last_week),
        server.donate(IVAN, 40),
        server.donate(OLGA, 120),
        server.donate(DIMA, 75, date=last_week),
        server.donate(ALICE, 60),
        server.donate(MASHA, 100),
        server.donate(PAVEL, 15),
    )

    async def all_credited():
        _, page = await server.call("GET", "/api/leaderboard/all-time", MASHA)
        return [(i["tg_id"], i["tons_total"]) for i in page["items"]] == [
            (ANNA["id"], "500.00"),
            (IVAN["id"], "290.00"),
            (OLGA["id"], "120.00"),
            (MASHA["id"], "100.00"),
            (DIMA["id"], "75.00"),
            (ALICE["id"], "60.00"),
            (PAVEL["id"], "15.00"),
        ]

    await server.wait_for(all_credited, what="the seeded donations on the board")


async def rows(app: MiniApp, tab: str) -> list[tuple[str, str, str]]:
    """(test id, rank, text) of each row of a loaded board."""
    board = app.testid(f"board-{tab}")
    await board.wait_for()
    return [
        (
            await row.get_attribute("data-testid"),
            await row.get_attribute("data-rank"),
            " ".join((await row.inner_text()).split()),
        )
        for row in await board.locator("[data-testid^='row-']").all()
    ]


# -- the boards ----------------------------------------------------------------------------


async def test_three_tabs_and_my_place(seeded, open_app):
    server = seeded
    app = await open_app(server, MASHA)
    me_block = app.testid("me-block")

    all_time = await rows(app, "all")
    assert [(tid, rank) for tid, rank, _ in all_time] == [
        (f"row-{u['id']}", str(r)) for r, u in enumerate([ANNA, IVAN, OLGA, MASHA, DIMA, ALICE, PAVEL], 1)
    ]
    assert all_time[0][2].endswith("@anna_star 500,00 тона")
    assert all_time[1][2].endswith("Иван 290,00 тона")  # no username: the first name
    assert "Вы" in all_time[3][2]  # my own row is marked
    assert await app.page.locator(f"[data-testid='row-{MASHA['id']}'].mine").count() == 1
    await expect_place(me_block, rank="4", text="Вы: #4")

    await app.testid("tab-week").click()
    week = await rows(app, "week")
    assert [tid for tid, _, _ in week] == [f"row-{u['id']}" for u in (ANNA, OLGA, MASHA, ALICE, IVAN, PAVEL)]
    assert week[4][2].endswith("Иван 40,00 тона")  # only this week's donation
    info = app.testid("week-info")
    _, page = await server.call("GET", "/api/leaderboard/week", MASHA)
    assert await info.get_attribute("data-week-key") == page["week_key"]
    assert await app.testid("week-countdown").locator(".chip").count() >= 3
    await expect_place(me_block, rank="3", text="Вы: #3")

    await app.testid("tab-referrals").click()
    referrals = await rows(app, "referrals")
    assert [tid for tid, _, _ in referrals] == [f"row-{u['id']}" for u in (ANNA, OLGA, MASHA)]
    assert referrals[0][2].endswith("@anna_star 3 реферала 425,00 тона")
    assert referrals[1][2].endswith("@olga_moon 1 реферал 75,00 тона")
    await expect_place(me_block, rank="3", text="Вы: #3")
    await expect(app.testid("my-referrals-count")).to_have_text("1")

    await app.testid("tab-all").click()
    await app.testid("board-all").wait_for()
    await expect_place(me_block, rank="4", text="Вы: #4")


async def expect_place(locator, *, rank: str, text: str) -> None:
    """The me-block shows ``text`` and carries ``data-rank=rank`` (waits up to 5 s)."""
    await expect(locator).to_have_attribute("data-rank", rank, timeout=5000)
    await expect(locator).to_contain_text(text, timeout=5000)


# -- paying ------------------------------------------------------------------------------


async def test_pay_first_place_appears_without_reload(server, telegram, open_app):
    await server.donate(ANNA, 30)
    await server.wait_credited(ANNA, "30.00")
    payer = tg_user(700_200_001, "Виктор", "victor")
    app = await open_app(server, payer)
    await rows(app, "all")
    me_block = app.testid("me-block")
    await expect_place(me_block, rank="", text="Вы: —")

    # «1 место»: the app asks the server for an invoice, the server asks Telegram for a link.
    await app.testid("topup").click()
    async with app.page.expect_response("**/api/payments/create-invoice") as answer:
        await app.testid("preset-place1").click()
    invoice = await (await answer.value).json()
    event = await app.wait_event("web_app_open_invoice")
    slug = event["data"]["slug"]
    assert invoice["invoice_link"] == f"https://t.me/${slug}"  # the link createInvoiceLink returned
    created = [p for name, p in telegram.calls if name == "createInvoiceLink"]
    assert created[-1]["payload"] == invoice["invoice_id"] == telegram.invoice(slug)["payload"]
    assert telegram.invoice(slug)["amount"] == invoice["stars_amount"] == 100  # the «1 место» preset
    await app.testid("topup-status").wait_for()  # "finish the payment in Telegram"

    # The user pays in Telegram's sheet: pre_checkout -> the bot -> successful_payment -> ledger.
    outcome = await telegram.pay(server.telegram_user(payer), invoice["invoice_link"])
    assert outcome.ok, outcome
    await app.receive("invoice_closed", {"slug": slug, "status": "paid"})

    thanks = app.page.locator("[data-testid='thanks'][data-result='credited']")
    await thanks.wait_for(timeout=10_000)
    assert "Зачислено 100,00 тона" in await thanks.inner_text()
    assert await app.testid("thanks-rank").inner_text() == "Ваше место: #1"
    haptics = [e["data"] for e in await app.events("web_app_trigger_haptic_feedback")]
    assert {"type": "notification", "notification_type": "success"} in haptics

    await app.testid("thanks-done").click()
    await app.testid("topup-modal").wait_for(state="detached")
    row = app.testid(f"row-{payer['id']}")
    await row.wait_for()
    assert await row.get_attribute("data-rank") == "1"
    assert " ".join((await row.inner_text()).split()).endswith("@victor Вы 100,00 тона")
    await expect_place(me_block, rank="1", text="Вы: #1")
    row_db = await server.db_fetchrow("SELECT stars_amount, status FROM payments WHERE tg_id = $1", payer["id"])
    assert (row_db["stars_amount"], row_db["status"]) == (100, "paid")


async def test_unpaid_invoices_and_refusals(server, telegram, open_app):
    """Cancelled and failed payments, a custom amount, the server's 429 (Retry-After) and 403
    (blocked) as the user sees them, the BackButton; nothing is credited."""
    user = tg_user(700_200_003, "Lena", "lena", language_code="en")
    app = await open_app(server, user)
    await app.testid("topup").click()
    assert (await app.wait_event("web_app_setup_back_button"))["data"] == {"is_visible": True}
    await app.testid("preset-place3").click()
    slug = (await app.wait_event("web_app_open_invoice"))["data"]["slug"]
    assert telegram.invoice(slug)["amount"] == 25
    await app.receive("invoice_closed", {"slug": slug, "status": "cancelled"})
    cancelled = app.page.locator("[data-testid='topup-message'][data-kind='cancelled']")
    await cancelled.wait_for()
    assert await cancelled.inner_text() == "Payment cancelled. Nothing was charged or credited."

    field = app.testid("custom-input")
    await field.fill("10001")
    await expect(app.testid("custom-error")).to_have_text("Maximum is 10,000")  # then the star icon, not ⭐
    assert await app.testid("custom-error").locator("svg.i-star").count() == 1
    await expect(app.testid("custom-confirm")).to_be_disabled()
    await field.fill("7")
    await app.testid("custom-confirm").click()
    slug = (await app.wait_event("web_app_open_invoice", count=2))["data"]["slug"]
    assert telegram.invoice(slug)["amount"] == 7
    await app.receive("invoice_closed", {"slug": slug, "status": "failed"})
    failed = app.page.locator("[data-testid='topup-message'][data-kind='failed']")
    await failed.wait_for()
    assert await failed.inner_text() == "Payment failed. Nothing was credited — please try again."

    # 8 more invoices in this minute reach the limit (10); the 11th is refused with Retry-After.
    for _ in range(8):
        await server.call("POST", "/api/payments/create-invoice", user, {"stars_amount": 1})
    async with app.page.expect_response("**/api/payments/create-invoice") as answer:
        await app.testid("preset-place2").click()
    response = await answer.value
    assert response.status == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    message = app.page.locator("[data-testid='topup-message'][data-kind='error']")
    await message.wait_for()
    text = await message.inner_text()
    assert text == f"Too many attempts. Wait {retry_after} s and try again.", text
    assert len(await app.events("web_app_open_invoice")) == 2

    # Blocked meanwhile (the admin's `tondonate` command writes the same row).
    from tondonate.db import open_database
    from tondonate.users import set_blocked

    db = open_database(server.db_url)
    await db.start()
    try:
        await set_blocked(db, user["id"], True)
    finally:
        await db.stop()
    await server.wait_for(lambda: _status(server, user), what="the block seen by the server")
    await app.testid("preset-place1").click()
    await expect(message).to_have_text("This account is blocked: top-ups are not available.")
    app.allow_failures(403, 429)  # the refusals this test provoked

    # Telegram's BackButton closes the sheet and is hidden again.
    await app.receive("back_button_pressed", None)
    await app.testid("topup-modal").wait_for(state="detached")
    assert (await app.events("web_app_setup_back_button"))[-1]["data"] == {"is_visible": False}
    await server.call("GET", "/api/me", user, expect=403)
    payments = await server.db_fetchrow("SELECT count(*) AS n FROM payments WHERE tg_id = $1", user["id"])
    assert payments["n"] == 0


async def _status(server: Backend, user: dict) -> bool:
    status, _ = await server.call("GET", "/api/me", user, expect=None)
    return status == 403


@pytest.mark.parametrize("server_settings", [{"rate.static_tons_per_star": "0.0125", "tons.rounding": "half_up"}])
async def test_packages_show_what_the_server_credits(server, telegram, open_app):
    """A rate with more digits than tons.decimals, rounded half-up: the sheet agrees with the server."""
    user = tg_user(700_200_004, "Нина")
    app = await open_app(server, user)
    await app.testid("topup").click()
    sheet = app.testid("topup-modal")
    await sheet.locator(".rate").wait_for()
    # The star is the Mini App's own icon: a system font may lack the ⭐ emoji.
    assert " ".join((await sheet.locator(".rate").inner_text()).split()) == "1 = 0,0125 тона"
    assert await sheet.locator(".rate svg.i-star").count() == 1
    assert "⭐" not in await app.page.locator("body").inner_text()
    shown = {
        p: " ".join((await app.testid(f"preset-{p}").inner_text()).split()) for p in ("place1", "place2", "place3")
    }
    assert shown == {
        "place1": "1 1 место +1,25 тона 100",
        "place2": "2 2 место +0,63 тона 50",  # 0.625 rounded half up
        "place3": "3 3 место +0,31 тона 25",  # 0.3125
    }
    await app.testid("custom-input").fill("3")
    await expect(sheet.locator(".field-gives")).to_have_text("≈ 0,04 тона")  # 0.0375
    async with app.page.expect_response("**/api/payments/create-invoice") as answer:
        await app.testid("preset-place2").click()
    invoice = await (await answer.value).json()
    assert (invoice["stars_amount"], invoice["tons_amount"]) == (50, "0.63")  # what the ledger will credit
    slug = (await app.wait_event("web_app_open_invoice"))["data"]["slug"]
    assert "+0,63 тона" in telegram.invoice(slug)["description"]  # Telegram's payment sheet says the same
    await app.receive("invoice_closed", {"slug": slug, "status": "cancelled"})
    await app.page.locator("[data-testid='topup-message'][data-kind='cancelled']").wait_for()


async def test_the_sheet_shows_the_age_of_a_fetched_rate(browser, telegram, tmp_path, open_app):
    """The ``ton`` provider, its price source down (a local stand-in answering CoinGecko's
    429), a rate stored 3 minutes ago: the sheet quotes it and says how old it is."""
    from aiohttp import web

    from tondonate.db import open_database

    async def rate_limited(request: web.Request) -> web.Response:
        return web.json_response({"status": {"error_code": 429}}, status=429)

    price_api = web.Application()
    price_api.router.add_get("/api/v3/simple/price", rate_limited)
    runner = web.AppRunner(price_api, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v3/simple/price?ids=the-open-network&vs_currencies=usd"
    settings = {"rate.provider": "ton", "rate.ton_sources": [{"url": url, "path": "the-open-network.usd"}]}
    try:
        async with Backend(telegram, tmp_path / "tondonate.db", **settings) as server:
            db = open_database(server.db_url)
            await db.start()
            try:
                await db.execute(
                    "INSERT INTO rates (fetched_at, source, tons_per_star) VALUES ($1, $2, $3)",
                    int(time.time()) - 200,
                    "ton:stand-in",
                    "0.0025",
                )
            finally:
                await db.stop()
            for user, text in (
                (tg_user(700_200_005, "Вера"), "1 = 0,0025 тона · курс обновлён 3 мин назад"),
                (tg_user(700_200_006, "Vera", language_code="en"), "1 = 0.0025 tons · rate updated 3 min ago"),
            ):
                app = await open_app(server, user)
                await app.testid("topup").click()
                rate = app.testid("topup-modal").locator(".rate")
                await expect(rate).to_have_text(text)  # "1 ⭐ = ...": the star is the icon, not a glyph
                assert await rate.locator("svg.i-star").count() == 1
    finally:
        await runner.cleanup()


# -- inviting ---------------------------------------------------------------------------


NARROW_LAYOUT_JS = """() => {
  const box = (el) => el.getBoundingClientRect();
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth) problems.push(`page scrolls sideways: ${doc.scrollWidth} > ${doc.clientWidth}`);
  const overlap = (a, b) => box(a).right > box(b).left + 0.5 && box(b).right > box(a).left + 0.5;
  for (const row of document.querySelectorAll('[data-testid^="row-"]')) {
    const id = row.dataset.testid;
    const name = row.querySelector('.row-name-text');
    if (!name) { problems.push(`${id}: no .row-name-text`); continue; }
    const style = getComputedStyle(name);
    if (name.scrollWidth > name.clientWidth && style.textOverflow !== 'ellipsis')
      problems.push(`${id}: the name is cut without an ellipsis`);
    const amount = row.querySelector('.amount');
    if (box(row.querySelector('.row-main')).right > box(amount).left + 0.5) problems.push(`${id}: the name runs into the amount`);
    if (box(amount).right > box(row).right + 0.5) problems.push(`${id}: the amount overflows the row`);
    const num = amount.querySelector('.amount-num');
    if (num.scrollWidth > num.clientWidth + 0.5) problems.push(`${id}: the amount is clipped`);
    const chip = row.querySelector('.you-chip');
    if (chip) {
      if (chip.scrollWidth > chip.clientWidth + 0.5 || box(chip).width < 20) problems.push(`${id}: the chip is squeezed (${box(chip).width}px)`);
      if (overlap(name, chip)) problems.push(`${id}: the name overlaps the chip`);
      if (box(chip).right > box(row.querySelector('.row-main')).right + 0.5) problems.push(`${id}: the chip is pushed out`);
    }
  }
  const tabs = [...document.querySelectorAll('.tab')];
  tabs.forEach((tab, i) => {
    if (tab.scrollWidth > tab.clientWidth + 0.5) problems.push(`${tab.id}: its label is clipped`);
    if (i && overlap(tabs[i - 1], tab)) problems.push(`${tab.id} overlaps ${tabs[i - 1].id}`);
  });
  const pill = document.querySelector('.tabs-pill');
  const active = document.querySelector('.tab.active');
  if (Math.abs(box(pill).left - box(active).left) > 1 || Math.abs(box(pill).width - box(active).width) > 1)
    problems.push(`the pill (${box(pill).left}+${box(pill).width}) is not under the active tab (${box(active).left}+${box(active).width})`);
  const label = document.querySelector('.week-count-label');
  if (label) {
    const lines = Math.round(box(label).height / parseFloat(getComputedStyle(label).lineHeight || '17'));
    if (box(label).height > 2 * 20) problems.push(`"${label.innerText}" wraps onto ${lines} lines (${box(label).height}px)`);
  }
  return problems;
}"""


@pytest.mark.parametrize(
    "server_settings", [{"rate.static_tons_per_star": "999.1234", "tons.decimals": 4, "leaderboard.page_size": 50}]
)
async def test_a_320px_frame_with_long_names_and_amounts(server, open_app):
    """A 320 px Mini App frame: a 64-character name, a right-to-left one and a 12-digit amount
    with 4 decimals; nothing overflows, is cut without an ellipsis, or overlaps."""
    long = tg_user(700_300_001, "Александра-Виктория " * 3 + "Константиновна")  # 74 -> cut to 64
    long["first_name"] = long["first_name"][:64]
    rtl = tg_user(700_300_002, "عبد الرحمن بن محمد بن عبد الله الشمري من مدينة الرياض")
    rich = tg_user(700_300_003, "Крез")
    await asyncio.gather(server.donate(rich, 10_000), server.donate(long, 25), server.donate(rtl, 50))
    await server.donate(rich, 9_999)
    await server.wait_credited(rich, "19981468.8766")  # 12 digits, 4 of them decimals

    app = await open_app(server, long, viewport={"width": 320, "height": 640})
    board = await rows(app, "all")
    assert board[0][2].startswith("1") and "8766 тона" in board[0][2], board
    problems = await app.page.evaluate(NARROW_LAYOUT_JS)
    assert not problems, "\n".join(problems)
    for tab in ("week", "referrals"):
        await app.testid(f"tab-{tab}").click()
        if tab == "week":
            await app.testid("board-week").wait_for()
        await app.page.wait_for_timeout(700)  # the pill's spring (no referrals here: an empty board)
        problems = await app.page.evaluate(NARROW_LAYOUT_JS)
        assert not problems, f"{tab}: " + "\n".join(problems)


async def test_invite_link_and_friend_attached(server, telegram, open_app):
    inviter = tg_user(700_300_001, "Сергей", "serg")
    app = await open_app(server, inviter)
    await app.testid("tab-referrals").click()
    await app.testid("board-empty").wait_for()
    await expect(app.testid("my-referrals-count")).to_have_text("0")
    await app.testid("invite").click()
    event = await app.wait_event("web_app_open_tg_link")
    share = urlsplit("https://t.me" + event["data"]["path_full"])
    assert share.path == "/share/url"
    query = parse_qs(share.query)
    link = urlsplit(query["url"][0])
    assert (link.netloc, link.path) == ("t.me", f"/{BOT_USERNAME}")
    start_param = parse_qs(link.query)["startapp"][0]
    assert start_param == f"ref_{inviter['id']}"
    assert query["text"] == ["Заходи в рейтинг донатов — поддержи и поднимись в топ!"]

    # The friend taps the link: Telegram opens the app with that start_param.
    friend = tg_user(700_300_002, "Катя", "katya")
    friend_app = await open_app(server, friend, start_param=start_param)
    await friend_app.testid("board-empty").wait_for()  # nobody has donated yet
    me = await server.me(friend)
    assert me["referrer_id"] == inviter["id"]
    stored = await server.db_fetchrow("SELECT referrer_id FROM users WHERE tg_id = $1", friend["id"])
    assert stored["referrer_id"] == inviter["id"]

    # The friend donates; the inviter's open page shows it on the referrals tab, no reload.
    await server.donate(friend, 42)
    await server.wait_credited(friend, "42.00")
    await app.testid("tab-all").click()
    await app.testid("board-all").wait_for()
    await app.testid("tab-referrals").click()
    row = app.testid(f"row-{inviter['id']}")
    await row.wait_for(timeout=10_000)
    assert " ".join((await row.inner_text()).split()).endswith("@serg Вы 1 реферал 42,00 тона")
    await expect(app.testid("my-referrals-count")).to_have_text("1")  # the invite card is fresh too
    await expect_place(app.testid("me-block"), rank="1", text="Вы: #1")
    await expect_place(app.testid("me-block"), rank="1", text="1 реферал")


# -- the look ---------------------------------------------------------------------------


async def test_screenshots_light_and_dark(seeded, open_app):
    """390x844 screenshots of the all-time board and the top-up sheet in both themes."""
    for name, theme in (("light", LIGHT_THEME), ("dark", DARK_THEME)):
        app = await open_app(seeded, MASHA, theme=theme)
        await rows(app, "all")
        await app.page.evaluate("document.fonts.ready")
        assert await app.page.evaluate("document.documentElement.classList.contains('dark')") is (name == "dark")
        assert not await app.page.evaluate("document.documentElement.classList.contains('lite')")
        # Telegram's header and background are painted in the page's colour.
        assert (await app.events("web_app_set_header_color"))[-1]["data"] == {"color_key": "secondary_bg_color"}
        assert (await app.events("web_app_set_background_color"))[-1]["data"] == {"color": theme["secondary_bg_color"]}
        page_bg = await app.page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert page_bg == _rgb(theme["secondary_bg_color"]), page_bg
        shot = await app.screenshot(f"webapp-{name}")
        assert shot.stat().st_size > 10_000
        await app.testid("topup").click()
        await app.testid("preset-place1").wait_for()
        await app.screenshot(f"webapp-{name}-topup")


def _rgb(hex_color: str) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


async def test_bundle_within_budget():
    """The served bundle stays under web/README's budget: 100 KB of gzipped JS + CSS."""
    import gzip

    from tondonate.server.static import bundle_dir

    assets = [p for p in (bundle_dir() / "assets").iterdir() if p.suffix in (".js", ".css")]
    assert {p.suffix for p in assets} == {".js", ".css"}
    gzipped = sum(len(gzip.compress(p.read_bytes(), 9)) for p in assets)
    assert gzipped < 100 * 1024, f"{gzipped / 1024:.1f} KB gzipped"
