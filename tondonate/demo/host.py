"""The demo's host page and its small API: the part a Telegram client plays.

The page (``page/``: plain HTML, CSS and JS, no build step, no external
request) frames the real Mini App and speaks Telegram Web's side of the
postMessage protocol.  What only Telegram could do comes from here:

* ``POST /demo/api/launch`` -- initData for the acting user (an existing user,
  or a brand-new one, optionally arriving with a ``start_param``), signed with
  this run's bot token;
* ``GET /demo/api/invoice/{slug}`` -- the invoice behind ``openInvoice``;
* ``POST /demo/api/pay`` -- the user presses Pay: the emulator sends the real
  bot a pre_checkout_query and, when the bot accepts, a successful_payment;
* ``GET /demo/api/users`` -- whom one can act as; ``GET /demo/api/messages`` --
  what the bot wrote to a user.

These routes exist only on the demo's own port; the real app (another port)
has none of them.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from collections.abc import Mapping
from importlib import resources
from typing import Any

from aiohttp import web

from .. import users as user_rows
from ..emulator import BotAPIEmulator, sign_init_data
from ..ledger import totals
from ..ledger.money import format_tons
from ..seed import FIRST_ID
from ..server.appkeys import BOT, DB, SETTINGS

log = logging.getLogger(__name__)

PAGE_FILES = {
    "/": ("index.html", "text/html"),
    "/host.js": ("host.js", "text/javascript"),
    "/host.css": ("host.css", "text/css"),
}
TG_VERSION = "8.0"
TG_PLATFORM = "weba"  # Telegram Web A
NEW_NAMES = ["Лиза", "Артём", "Вика", "Тимур", "Даша", "Глеб", "Соня", "Марк"]
START_PARAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # Telegram's rule for startapp
DONORS_LISTED = 20
REFERRERS_LISTED = 10
_TG_USER_FIELDS = ("id", "is_bot", "first_name", "last_name", "username", "language_code")


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _int_field(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise _BadRequest(400, f"{name} must be a Telegram user id")
    return value


def _display_name(first: str | None, last: str | None, username: str | None, tg_id: int) -> str:
    name = " ".join(part for part in (first, last) if part)
    return name or (f"@{username}" if username else f"User {tg_id}")


class DemoHost:
    """State shared by the host page's handlers: the users launched in this run, the emulator."""

    def __init__(self, app: web.Application, *, token: str, emulator: BotAPIEmulator, app_port: int) -> None:
        self._app = app
        self._token = token
        self._emulator = emulator
        self._db = app[DB]
        self._app_port = app_port
        self.profiles: dict[int, dict[str, Any]] = {}  # Telegram User of everyone launched, oldest first
        self.default_user_id: int | None = None
        self._last_new_id = 0
        self._names = itertools.cycle(NEW_NAMES)

    # --- start-up ----------------------------------------------------------------
    async def prepare(self) -> None:
        """Pick whom the page acts as first: a Russian-speaking donor with referrals who
        donated, in the lower part of the board, so a package visibly moves them up."""
        rows = await totals.donating_referrers(self._db)
        candidates = [r for r in rows if (r[1] or "").startswith("ru")] or list(rows)
        if candidates:
            self.default_user_id = int(candidates[len(candidates) * 2 // 3][0])
        else:
            self.default_user_id = await user_rows.first_unblocked(self._db)

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024)
        root = resources.files("tondonate.demo") / "page"
        for path, (name, content_type) in PAGE_FILES.items():
            app.router.add_get(path, self._file_handler((root / name).read_bytes(), content_type))
        app.router.add_get("/demo/api/state", self._wrap(self.state))
        app.router.add_get("/demo/api/users", self._wrap(self.users))
        app.router.add_post("/demo/api/launch", self._wrap(self.launch))
        app.router.add_get("/demo/api/invoice/{slug}", self._wrap(self.invoice))
        app.router.add_post("/demo/api/pay", self._wrap(self.pay))
        app.router.add_get("/demo/api/messages", self._wrap(self.messages))
        return app

    @staticmethod
    def _file_handler(body: bytes, content_type: str):
        async def handler(request: web.Request) -> web.Response:
            return web.Response(
                body=body, content_type=content_type, charset="utf-8", headers={"Cache-Control": "no-cache"}
            )

        return handler

    @staticmethod
    def _wrap(handler):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except _BadRequest as exc:
                return _error(exc.status, str(exc))

        return wrapped

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise _BadRequest(400, "the body must be JSON") from None
        if not isinstance(body, dict):
            raise _BadRequest(400, "the body must be a JSON object")
        return body

    # --- handlers ----------------------------------------------------------------
    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "app_port": self._app_port,
                "bot_username": self._emulator.bot_username,
                "bot_name": self._emulator.bot_user["first_name"],
                "default_user_id": self.default_user_id,
                "bot_ready": self._app[BOT].ready.is_set(),  # it starts after the page (see server/botlife.py)
                "bot_failed": self._app[BOT].failed,  # why a background start gave up, or null
                "tg_version": TG_VERSION,
                "tg_platform": TG_PLATFORM,
            }
        )

    def _user_json(self, row) -> dict[str, Any]:
        decimals = self._app[SETTINGS].current.tons_decimals
        tg_id = int(row[0])
        return {
            "id": tg_id,
            "name": _display_name(row[2], row[3], row[1], tg_id),
            "username": row[1],
            "language_code": row[4],
            "tons": format_tons(int(row[5]), decimals),
            "referrals": int(row[6]),
            "referrals_tons": format_tons(int(row[7]), decimals),
        }

    async def users(self, request: web.Request) -> web.Response:
        """Whom one can act as: this run's users, the suggested one, top donors, top referrers."""
        wanted = [*reversed(self.profiles), *([self.default_user_id] if self.default_user_id else [])]
        known: dict[int, dict[str, Any]] = {}
        for row in await totals.people(self._db, wanted):
            known[int(row[0])] = self._user_json(row)
        zero = format_tons(0, self._app[SETTINGS].current.tons_decimals)
        session = []
        for tg_id in reversed(self.profiles):  # launched, not necessarily in the database yet
            user = self.profiles[tg_id]
            session.append(
                known.get(tg_id)
                or {
                    "id": tg_id,
                    "name": _display_name(user.get("first_name"), user.get("last_name"), user.get("username"), tg_id),
                    "username": user.get("username"),
                    "language_code": user.get("language_code"),
                    "tons": zero,
                    "referrals": 0,
                    "referrals_tons": zero,
                }
            )
        donors = await totals.top_donors(self._db, DONORS_LISTED)
        referrers = await totals.top_referrers(self._db, REFERRERS_LISTED)
        suggested = [known[self.default_user_id]] if self.default_user_id in known else []
        groups, seen = [], set[int]()
        for title, members in (
            ("This session", session),
            ("Suggested", suggested),
            ("Top donors", [self._user_json(r) for r in donors]),
            ("Top referrers", [self._user_json(r) for r in referrers]),
        ):
            fresh = [u for u in members if u["id"] not in seen]
            seen.update(u["id"] for u in fresh)
            if fresh:
                groups.append({"title": title, "users": fresh})
        return web.json_response({"groups": groups, "default_user_id": self.default_user_id})

    async def _existing_user(self, tg_id: int) -> dict[str, Any]:
        row = await user_rows.find(self._db, tg_id)
        if row is None:
            raise _BadRequest(404, f"no user {tg_id} in the demo database")
        user: dict[str, Any] = {
            "id": int(row["tg_id"]),
            "is_bot": False,
            "first_name": row["first_name"] or f"User {tg_id}",
        }
        for key in ("last_name", "username", "language_code"):
            value = row[key]
            if value:
                user[key] = value
        user["allows_write_to_pm"] = True
        return user

    async def _new_user(self) -> dict[str, Any]:
        top = await user_rows.max_id(self._db)
        tg_id = max(int(top or 0), self._last_new_id, FIRST_ID - 1) + 1
        self._last_new_id = tg_id
        return {
            "id": tg_id,
            "is_bot": False,
            "first_name": next(self._names),
            "username": f"new_friend_{tg_id % 100_000}",
            "language_code": "ru",
            "allows_write_to_pm": True,
        }

    async def launch(self, request: web.Request) -> web.Response:
        """initData for opening the Mini App as a user, signed with this run's token."""
        body = await self._body(request)
        start_param = body.get("start_param")
        if start_param is not None and (not isinstance(start_param, str) or not START_PARAM.match(start_param)):
            raise _BadRequest(400, "start_param must be 1-64 characters A-Z, a-z, 0-9, _ and -")
        if body.get("new"):
            user = await self._new_user()
        else:
            tg_id = _int_field(body, "user_id")
            user = self.profiles.get(tg_id) or await self._existing_user(tg_id)
        self.profiles.pop(user["id"], None)
        self.profiles[user["id"]] = user  # newest last
        if start_param:  # opened from a t.me/<bot>/<app>?startapp= link
            init_data = sign_init_data(self._token, user, start_param=start_param, chat_type="sender")
        else:  # opened from the bot's menu button
            init_data = sign_init_data(self._token, user, query_id=f"AAE{secrets.token_urlsafe(18)}")
        public = {k: v for k, v in user.items() if k != "is_bot"}
        return web.json_response({"user": public, "init_data": init_data, "start_param": start_param})

    async def invoice(self, request: web.Request) -> web.Response:
        try:
            invoice = self._emulator.invoice(request.match_info["slug"])
        except LookupError:
            raise _BadRequest(404, "no such invoice") from None
        return web.json_response({k: invoice[k] for k in ("slug", "title", "description", "amount", "currency")})

    async def pay(self, request: web.Request) -> web.Response:
        """Pay: pre_checkout_query -> the bot's answer -> successful_payment (the bot credits it)."""
        body = await self._body(request)
        slug = body.get("slug")
        if not isinstance(slug, str) or not slug:
            raise _BadRequest(400, "slug is required")
        user = self.profiles.get(_int_field(body, "user_id"))
        if user is None:
            raise _BadRequest(400, "launch the Mini App as this user first")
        try:
            self._emulator.invoice(slug)
        except LookupError:
            raise _BadRequest(404, "no such invoice") from None
        payer = {k: user[k] for k in _TG_USER_FIELDS if k in user}
        outcome = await self._emulator.pay(payer, slug)
        message = outcome.error_message
        if outcome.timed_out:
            message = "The bot did not answer the pre-checkout query in time"
        return web.json_response(
            {
                "status": "paid" if outcome.ok else "failed",
                "error_message": message,
                "charge_id": outcome.charge_id,
            }
        )

    async def messages(self, request: web.Request) -> web.Response:
        """What the bot sent to a user (``after``: skip that many)."""
        try:
            tg_id = int(request.query.get("user_id", ""))
            after = max(int(request.query.get("after", "0")), 0)
        except ValueError:
            raise _BadRequest(400, "user_id and after must be integers") from None
        sent = self._emulator.sent_messages(tg_id)
        return web.json_response({"count": len(sent), "messages": [{"text": m.get("text", "")} for m in sent[after:]]})
