"""Browser-test harness: the real server, a Bot API stand-in, and Chromium playing Telegram's client.

* :class:`Backend` runs :func:`tondonate.server.serve` (what ``tondonate serve``
  runs) on a free local port, against a :class:`~tondonate.emulator.BotAPIEmulator`
  in the same event loop, with long polling on and a fresh SQLite database.  Data
  is made through the real paths only: ``/api/me`` with signed initData creates
  users (and attaches referrals), ``/api/payments/create-invoice`` plus the
  emulator's ``pay`` (pre_checkout_query -> the bot's answer -> successful_payment
  -> the bot's ledger) credits donations.
* :func:`launch_url` builds the URL Telegram opens: the page plus a hash with
  ``tgWebAppData``, ``tgWebAppVersion``, ``tgWebAppPlatform``,
  ``tgWebAppThemeParams`` (and ``tgWebAppStartParam``).
* :class:`MiniApp` is one page in its own browser context whose init script
  defines ``window.TelegramWebviewProxy.postEvent`` before the SDK loads: every
  event is recorded, and the requests a Telegram client answers at once (theme,
  viewport, safe areas) are answered through ``Telegram.WebView.receiveEvent``.
  Everything else (``invoice_closed``, ...) the test answers itself with
  :meth:`MiniApp.receive`.  The page records page errors, console errors and
  every request; requests to another origin are aborted and recorded.

Chromium: ``$TONDONATE_TEST_CHROMIUM`` or Debian's ``/usr/bin/chromium``; never
downloaded.  Missing browser: skip, unless the variable is set (CI), then fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import pytest
from offline import OFFLINE_SETTINGS

CHROMIUM_ENV = "TONDONATE_TEST_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TOKEN = "123456:TEST-token"
BOT_USERNAME = "tondonate_test_bot"
REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts"

# A phone-sized viewport (iPhone 12-15 CSS pixels).
VIEWPORT = {"width": 390, "height": 844}
# Telegram for Android's user agent suffix (performance class AVERAGE: the full look).
USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36 Telegram-Android/11.5.3 (Google Pixel 7; Android 14; SDK 34; AVERAGE)"
)

# Theme params as Telegram for Android sends them (day and night themes).
LIGHT_THEME = {
    "bg_color": "#ffffff",
    "section_bg_color": "#ffffff",
    "secondary_bg_color": "#f0f0f0",
    "text_color": "#222222",
    "hint_color": "#a8a8a8",
    "link_color": "#2678b6",
    "button_color": "#50a8eb",
    "button_text_color": "#ffffff",
    "header_bg_color": "#527da3",
    "accent_text_color": "#1c93e3",
    "section_header_text_color": "#3a95d5",
    "subtitle_text_color": "#82868a",
    "destructive_text_color": "#cc2929",
    "section_separator_color": "#d9d9d9",
    "bottom_bar_bg_color": "#f0f0f0",
}
DARK_THEME = {
    "bg_color": "#212d3b",
    "section_bg_color": "#1d2733",
    "secondary_bg_color": "#151e27",
    "text_color": "#ffffff",
    "hint_color": "#7d8b99",
    "link_color": "#5eabe1",
    "button_color": "#50a8eb",
    "button_text_color": "#ffffff",
    "header_bg_color": "#242d39",
    "accent_text_color": "#64b5ef",
    "section_header_text_color": "#79c4fc",
    "subtitle_text_color": "#7b8790",
    "destructive_text_color": "#ee686f",
    "section_separator_color": "#0d1218",
    "bottom_bar_bg_color": "#151e27",
}


# -- the browser ----------------------------------------------------------------------


def chromium_or_skip() -> str:
    """The Chromium binary to drive; skips (or, with ``$TONDONATE_TEST_CHROMIUM`` set, fails) without one."""
    configured = os.environ.get(CHROMIUM_ENV, "").strip()
    candidate = configured or DEFAULT_CHROMIUM
    path = shutil.which(candidate) if not os.path.isabs(candidate) else candidate
    problem = None
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        problem = f"no Chromium executable at {candidate}"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError as exc:
            problem = f"the playwright package is not installed ({exc}); pip install -e '.[test]'"
    if problem is None:
        return path
    if configured:
        pytest.fail(f"{problem} ({CHROMIUM_ENV} is set, so browser tests must run)", pytrace=False)
    pytest.skip(f"{problem} (set {CHROMIUM_ENV} to a Chromium binary to run the browser tests)")


# -- the server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tg_user(tg_id: int, first_name: str, username: str | None = None, language_code: str = "ru", **extra: Any) -> dict:
    """A Telegram user as the Mini App's initData carries it (no photo_url: see the test module)."""
    user = {"id": tg_id, "first_name": first_name, "language_code": language_code, **extra}
    if username:
        user["username"] = username
    return user


def sign(user: dict, *, start_param: str | None = None, auth_date: int | None = None) -> str:
    from tondonate.emulator import sign_init_data

    return sign_init_data(TOKEN, user, auth_date=auth_date, start_param=start_param, chat_type="sender")


class Backend:
    """``tondonate serve`` (the same coroutine) on a free port, its bot polling the emulator."""

    def __init__(self, telegram, db_path: Path, **settings: Any):
        from tondonate.config import Config

        self.telegram = telegram
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.db_url = f"sqlite:///{db_path}"
        self.config = Config().replace(
            bot={"token": TOKEN, "api_base": telegram.base_url, "mode": "polling"},
            webapp={"url": self.origin + "/"},
            http={"host": "127.0.0.1", "port": self.port},
            db={"url": self.db_url},
            settings={**OFFLINE_SETTINGS, **settings},
        )
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Backend:
        from tondonate.server import serve

        ready = asyncio.Event()
        self._task = asyncio.create_task(serve(self.config, ready=ready, stop=self._stop), name="tondonate-serve")
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait([waiter, self._task], timeout=20, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiter.cancel()
            if self._task.done():
                self._task.result()  # raises the start-up error (e.g. the port was taken meanwhile)
            self._task.cancel()
            raise TimeoutError("tondonate serve did not start within 20 s")
        try:
            await self.telegram.wait_for_call("getUpdates", timeout=10)  # the bot is up once it polls
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        self.http = aiohttp.ClientSession(self.origin)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.http is not None:
            await self.http.close()
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=10)

    # -- the API as a Mini App user ----------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        user: dict,
        body: Any = None,
        *,
        start_param: str | None = None,
        expect: int | None = 200,
    ) -> tuple[int, Any]:
        headers = {"Authorization": "tma " + sign(user, start_param=start_param)}
        async with self.http.request(method, path, headers=headers, json=body) as resp:
            data = await resp.json()
            if expect is not None:
                assert resp.status == expect, (method, path, resp.status, data)
            return resp.status, data

    async def me(self, user: dict, *, start_param: str | None = None) -> dict:
        """``GET /api/me``: on first sight this creates the user (with the referral in start_param)."""
        return (await self.call("GET", "/api/me", user, start_param=start_param))[1]

    async def donate(self, user: dict, stars: int, *, date: int | None = None) -> str:
        """The whole Stars payment: invoice via the API, pay it on the emulator (the bot answers
        pre_checkout and credits successful_payment).  Returns the charge id; crediting is
        asynchronous (see :meth:`wait_for`)."""
        _, invoice = await self.call("POST", "/api/payments/create-invoice", user, {"stars_amount": stars})
        outcome = await self.telegram.pay(self.telegram_user(user), invoice["invoice_link"], date=date)
        assert outcome.ok, outcome
        return outcome.charge_id

    def telegram_user(self, user: dict) -> dict:
        """The Bot API ``User`` of a Mini App user (for updates the emulator sends the bot)."""
        return {
            "is_bot": False,
            **{k: v for k, v in user.items() if k in ("id", "first_name", "last_name", "username", "language_code")},
        }

    async def wait_for(self, probe: Callable[[], Any], *, timeout: float = 10, what: str = "condition") -> Any:
        """Poll ``await probe()`` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = await probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not reached within {timeout} s (last: {value!r})")
            await asyncio.sleep(0.1)

    async def wait_credited(self, user: dict, tons_total: str, timeout: float = 10) -> dict:
        async def probe():
            me = await self.me(user)
            return me if me["tons_total"] == tons_total else None

        return await self.wait_for(probe, timeout=timeout, what=f"{user['id']} credited to {tons_total}")

    async def db_fetchrow(self, sql: str, *args: Any):
        from tondonate.db import open_database

        db = open_database(self.db_url)
        await db.start()
        try:
            return await db.fetchrow(sql, *args)
        finally:
            await db.stop()


# -- the page -------------------------------------------------------------------------


def launch_url(
    origin: str,
    user: dict,
    *,
    theme: dict | None = None,
    start_param: str | None = None,
    platform: str = "android",
    version: str = "8.0",
) -> str:
    """The URL Telegram opens: the Mini App page with the launch parameters in the hash."""
    init_data = sign(user, start_param=start_param)
    params = [("tgWebAppData", init_data), ("tgWebAppVersion", version), ("tgWebAppPlatform", platform)]
    if theme is not None:
        params.append(("tgWebAppThemeParams", json.dumps(theme, separators=(",", ":"))))
    if start_param is not None:
        params.append(("tgWebAppStartParam", start_param))
    return origin + "/#" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params)


# Runs before any page script: Telegram's side of the postEvent protocol.
_CLIENT_JS = """
(() => {
  const cfg = %s;
  const events = [];
  window.__tg = { events };
  if (cfg.device) {
    Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => cfg.device.cores });
    Object.defineProperty(Navigator.prototype, 'deviceMemory', { get: () => cfg.device.memory });
  }
  const answer = (type, data) => setTimeout(() => window.Telegram.WebView.receiveEvent(type, data), 0);
  window.TelegramWebviewProxy = {
    postEvent(type, data) {
      let parsed = data;
      try { parsed = data === undefined || data === '' || data === '""' ? null : JSON.parse(data); } catch (e) {}
      events.push({ type, data: parsed });
      switch (type) {
        case 'web_app_request_theme': answer('theme_changed', { theme_params: cfg.theme }); break;
        case 'web_app_request_viewport':
          answer('viewport_changed', { height: window.innerHeight, width: window.innerWidth, is_expanded: true, is_state_stable: true });
          break;
        case 'web_app_request_safe_area': answer('safe_area_changed', { top: 0, bottom: 0, left: 0, right: 0 }); break;
        case 'web_app_request_content_safe_area': answer('content_safe_area_changed', { top: 0, bottom: 0, left: 0, right: 0 }); break;
      }
    },
  };
})();
"""


class MiniApp:
    """One Mini App page in its own browser context, Telegram's client played by the init script."""

    def __init__(self, context, page, origin: str):
        self.context = context
        self.page = page
        self.origin = origin
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        self.foreign: list[str] = []
        self.responses: list[Any] = []
        self._allowed_statuses: set[int] = set()

    @classmethod
    async def open(
        cls,
        browser,
        origin: str,
        user: dict,
        *,
        theme: dict | None = None,
        start_param: str | None = None,
        lite: bool = False,
        viewport: dict | None = None,
    ) -> MiniApp:
        context = await browser.new_context(
            viewport=viewport or VIEWPORT,
            device_scale_factor=1,
            is_mobile=True,
            has_touch=True,
            user_agent=USER_AGENT,
            locale="ru-RU",
            timezone_id="Europe/Berlin",
            color_scheme="dark" if theme is DARK_THEME else "light",
            reduced_motion="reduce" if lite else "no-preference",
        )
        page = await context.new_page()
        app = cls(context, page, origin)
        theme = LIGHT_THEME if theme is None else theme
        # A mid-range phone (8 cores, 4 GB) so the full look renders on a small CI box too.
        device = None if lite else {"cores": 8, "memory": 4}
        await page.add_init_script(_CLIENT_JS % json.dumps({"theme": theme, "device": device}))
        await context.route("**/*", app._route)
        page.on("pageerror", lambda exc: app.page_errors.append(str(exc)))
        page.on("console", lambda msg: app._console(msg))
        page.on("request", lambda req: app.requests.append(req.url))
        page.on("response", lambda resp: app.responses.append(resp))
        await page.goto(launch_url(origin, user, theme=theme, start_param=start_param))
        return app

    async def _route(self, route) -> None:
        url = route.request.url
        if self._same_origin(url):
            await route.continue_()
        else:
            self.foreign.append(url)
            await route.abort("blockedbyclient")

    def _same_origin(self, url: str) -> bool:
        parts, mine = urlsplit(url), urlsplit(self.origin)
        return (parts.scheme, parts.netloc) == (mine.scheme, mine.netloc)

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.console_errors.append(msg.text)

    async def close(self) -> None:
        await self.context.close()

    # -- Telegram's side -----------------------------------------------------------------
    async def events(self, type: str | None = None) -> list[dict]:
        events = await self.page.evaluate("window.__tg.events")
        return [e for e in events if type is None or e["type"] == type]

    async def wait_event(self, type: str, count: int = 1, timeout: float = 10_000) -> dict:
        """The ``count``-th event of ``type`` the page posted (waits for it)."""
        await self.page.wait_for_function(
            "([t, n]) => window.__tg.events.filter(e => e.type === t).length >= n",
            arg=[type, count],
            timeout=timeout,
        )
        return (await self.events(type))[count - 1]

    async def receive(self, type: str, data: Any) -> None:
        """Telegram answers: ``Telegram.WebView.receiveEvent(type, data)``."""
        await self.page.evaluate("([t, d]) => window.Telegram.WebView.receiveEvent(t, d)", [type, data])

    # -- checks ---------------------------------------------------------------------------
    def testid(self, name: str):
        return self.page.get_by_test_id(name)

    def allow_failures(self, *statuses: int) -> None:
        """Answers with these statuses were provoked on purpose: :meth:`assert_clean` lets them
        (and Chromium's console line about each) pass."""
        self._allowed_statuses.update(statuses)

    def assert_clean(self) -> None:
        """No page errors, no console errors, no failed request, every request to the server's own origin."""
        assert self.page_errors == [], self.page_errors
        allowed = tuple(f"status of {status} " for status in self._allowed_statuses)
        console = [
            m
            for m in self.console_errors
            if not (m.startswith("Failed to load resource") and any(a in m for a in allowed))
        ]
        assert console == [], console
        assert self.foreign == [], f"requests left the server's origin: {self.foreign}"
        outside = [u for u in self.requests if not self._same_origin(u)]
        assert outside == [], outside
        failed = [
            f"{r.status} {r.url}" for r in self.responses if r.status >= 400 and r.status not in self._allowed_statuses
        ]
        assert failed == [], failed

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        # animations="disabled": finite animations (entry, the sheet's spring) jump to their end,
        # the endless ambient drift stops, so the picture is the settled page.
        await self.page.screenshot(path=str(path), animations="disabled", caret="hide")
        return path
