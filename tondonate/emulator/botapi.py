"""An in-process emulation of the Telegram Bot API, faithful where tondonate relies on it.

The real aiogram bot talks to it over HTTP (``TelegramAPIServer.from_base``),
so tests exercise the production code path: aiogram's request encoding, its
response/error decoding, long polling and offsets. Tests and the offline demo
drive the "Telegram side" through plain methods (``send_text``, ``pay``,
``record_transaction``, ``fail_next``...) that never go through HTTP.

Shapes and rules follow core.telegram.org/bots/api. Deliberate simplifications:

* only Telegram Stars (``XTR``) invoices, only private chats with known users;
* webhooks may be plain ``http://`` and get updates one at a time; an update
  is dropped after ``webhook_attempts`` failures (Telegram retries for hours);
* only ``parse_mode=HTML`` is interpreted; other modes echo the text as is;
* some 400 descriptions are Telegram's exact codes (CURRENCY_INVALID,
  STARS_INVOICE_INVALID, QUERY_ID_INVALID, CHARGE_ALREADY_REFUNDED...), the
  rest are descriptive approximations: match on the code, not the prose.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from aiohttp import BodyPartReader, ClientSession, ClientTimeout, MultipartReader, web

from .entities import command_entities, parse_html, utf16_len
from .params import BotAPIError, bad_request, coerce_params

__all__ = ["BotAPIEmulator", "BotAPIError", "PaymentOutcome"]

log = logging.getLogger(__name__)

# Sent when allowed_updates is unset or empty (documented default of getUpdates).
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_STARS_CHARGE_PREFIX = "stxEMU"


@dataclass(frozen=True)
class PaymentOutcome:
    """What the paying user saw. ``timed_out``: the bot never answered the pre-checkout query."""

    ok: bool
    error_message: str | None
    charge_id: str | None
    timed_out: bool = False


@dataclass
class _Described:
    """A successful result that Telegram accompanies with a ``description`` (webhook methods)."""

    result: Any
    description: str


@dataclass
class _Fault:
    error: BotAPIError
    remaining: int


@dataclass
class _Checkout:
    user: dict[str, Any]
    invoice: dict[str, Any]
    answer: asyncio.Future[tuple[bool, str | None]]


@dataclass
class _Charge:
    user: dict[str, Any]
    amount: int
    payload: str
    refunded: bool = False


def _now() -> int:
    return int(time.time())


def _invoice_slug(link_or_slug: str) -> str:
    for prefix in ("https://t.me/$", "http://t.me/$", "t.me/$", "https://t.me/invoice/", "$"):
        if link_or_slug.startswith(prefix):
            return link_or_slug[len(prefix) :]
    return link_or_slug


class BotAPIEmulator:
    """An aiohttp server answering ``{base_url}/bot{token}/{method}`` like api.telegram.org.

    All state lives on the instance; one emulator per test. Driver methods
    (``push_update``, ``send_text``, ``pay``...) must be called from the event
    loop the server runs on.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        bot_username: str = "tondonate_test_bot",
        bot_id: int | None = None,
        *,
        bot_first_name: str = "Tondonate Test Bot",
        newest_first: bool = False,
        max_invoice_stars: int = 10_000,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.05,
    ) -> None:
        if bot_id is None:
            head = token.split(":", 1)[0]
            bot_id = int(head) if head.isdigit() else 123456
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        # The docs promise chronological order; newest_first lets reconcile code be tested
        # against the reverse too, since callers should not depend on it blindly.
        self.newest_first = newest_first
        # Per-invoice Stars ceiling: Telegram's limit has changed over time, hence a knob.
        self.max_invoice_stars = max_invoice_stars
        self.webhook_attempts = webhook_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.clock_skew = 0.0  # seconds added to the Date header of every answer

        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.dropped_updates: list[dict[str, Any]] = []  # filtered out by allowed_updates
        self._consumed_calls: set[int] = set()
        self._users: dict[int, dict[str, Any]] = {}
        self._sent: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []  # unconfirmed updates, oldest first
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(4_700_000_000_000_000_001)
        self._allowed: frozenset[str] = frozenset()
        self._webhook: dict[str, Any] | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._invoices: dict[str, dict[str, Any]] = {}
        self._checkouts: dict[str, _Checkout] = {}
        self._charges: dict[str, _Charge] = {}
        self._transactions: list[dict[str, Any]] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._commands: dict[str, list[Any]] = {}
        self._menu_buttons: dict[int | None, Any] = {}
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "createInvoiceLink": self._create_invoice_link,
            "answerPreCheckoutQuery": self._answer_pre_checkout_query,
            "getStarTransactions": self._get_star_transactions,
            "refundStarPayment": self._refund_star_payment,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "close": self._accept,
            "logOut": self._accept,
        }
        self._canonical = {name.lower(): name for name in self._handlers}
        # Message.from carries a plain User; the can_* fields exist only in getMe.
        self._bot_sender = {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}
        # Signals are futures resolved and replaced on each change, so waiters never poll.
        self._changed: asyncio.Future[None] | None = None  # new update / webhook change / stop
        self._call_signal: asyncio.Future[None] | None = None
        self._poller: asyncio.Future[None] | None = None  # resolved = "terminated by other getUpdates"
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._closed = False
        self._webhook_task: asyncio.Task[None] | None = None
        self._http: ClientSession | None = None

    # --- lifecycle -------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # handler_cancellation: a poller that hangs up must not keep its long poll alive.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_port = self._runner.addresses[0][1]
        self._base_url = f"http://[{host}]:{bound_port}" if ":" in host else f"http://{host}:{bound_port}"

    async def stop(self) -> None:
        self._closed = True
        self._signal("_changed")
        self._signal("_call_signal")
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the emulator is not started")
        return self._base_url

    def _signal(self, attr: str) -> None:
        future = getattr(self, attr)
        if future is not None and not future.done():
            future.set_result(None)
        setattr(self, attr, None)

    def _waiter(self, attr: str) -> asyncio.Future[None]:
        future = getattr(self, attr)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            setattr(self, attr, future)
        return future

    # --- HTTP ------------------------------------------------------------------------
    def _reply(self, status: int, body: dict[str, Any]) -> web.Response:
        # Like api.telegram.org, every answer has a Date header (aiohttp adds it);
        # clock_skew shifts it, to test what a machine with a wrong clock sees.
        headers = {"Date": formatdate(time.time() + self.clock_skew, usegmt=True)} if self.clock_skew else None
        return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._reply(401, BotAPIError(401, "Unauthorized").body())
        try:
            raw = await self._read_params(request)
            body: dict[str, Any] = {"ok": True}
            result = await self._invoke(request.match_info["method"], raw)
        except BotAPIError as error:
            return self._reply(error.error_code, error.body())
        if isinstance(result, _Described):
            result, body["description"] = result.result, result.description
        body["result"] = result
        return self._reply(200, body)

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        """Query string, then the body: JSON, urlencoded or multipart, as Telegram accepts."""
        params: dict[str, Any] = dict(request.query)
        if not request.body_exists:
            return params
        if request.content_type == "application/json":
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                raise bad_request("can't parse JSON encoded request") from None
            if not isinstance(body, dict):
                raise bad_request("JSON encoded request must be an object")
            params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                # Uploaded files are not emulated; record that one was sent.
                params[key] = f"<file {value.filename}>" if isinstance(value, web.FileField) else value
        return params

    async def _invoke(self, name: str, raw: Mapping[str, Any]) -> Any:
        """Run one method call (from HTTP or a webhook reply): record, inject faults, dispatch."""
        method = self._canonical.get(name.lower())  # Telegram method names are case-insensitive
        if method is None:
            self._record(name, dict(raw))
            raise BotAPIError(404, "Not Found: method not found")
        try:
            params = coerce_params(method, raw)
        except BotAPIError:
            self._record(method, dict(raw))
            raise
        self._record(method, params)
        gate = self._holds.get(method.lower())
        if gate is not None:
            await gate.wait()
        faults = self._faults.get(method.lower())
        if faults:
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.pop(0)
            raise fault.error
        return await self._handlers[method](params)

    def _record(self, method: str, params: dict[str, Any]) -> None:
        self.calls.append((method, params))
        self._signal("_call_signal")

    # --- updates, long polling, webhooks ---------------------------------------------
    def _set_allowed(self, allowed: Any) -> None:
        if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
            raise bad_request("can't parse allowed updates")
        self._allowed = frozenset(allowed)

    def _is_allowed(self, kind: str) -> bool:
        return kind in self._allowed if self._allowed else kind not in _NOT_BY_DEFAULT

    def push_update(self, update: Mapping[str, Any]) -> int:
        """Queue ``update`` (one payload field, no ``update_id``); returns its update_id.

        Like Telegram, types excluded by the last ``allowed_updates`` are never
        created: they land in ``dropped_updates`` instead of the queue.
        """
        if "update_id" in update or len(update) != 1:
            raise ValueError("pass exactly one update field (e.g. {'message': ...}) and no update_id")
        update_id = next(self._update_ids)
        full = {"update_id": update_id, **update}
        if not self._is_allowed(next(iter(update))):
            self.dropped_updates.append(full)
            return update_id
        self._pending.append(full)
        self._signal("_changed")
        return update_id

    async def _get_updates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        self._check_no_webhook()
        limit = min(max(p.get("limit", 100), 1), 100)  # out-of-range values are clamped, not refused
        timeout = min(max(p.get("timeout", 0), 0), 50)
        if "allowed_updates" in p:
            self._set_allowed(p["allowed_updates"])
        offset = p.get("offset", 0)
        if offset > 0:  # confirms (forgets) every update before it
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:  # keep only the last -offset updates
            self._pending = self._pending[offset:]
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)
        me: asyncio.Future[None] = loop.create_future()
        self._poller = me
        deadline = loop.time() + timeout
        try:
            while True:
                self._check_no_webhook()
                if self._pending:
                    return self._pending[:limit]
                remaining = deadline - loop.time()
                if remaining <= 0 or self._closed:
                    return []
                await asyncio.wait(
                    [self._waiter("_changed"), me], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if me.done():
                    raise BotAPIError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
        finally:
            if self._poller is me:
                self._poller = None

    def _check_no_webhook(self) -> None:
        if self._webhook is not None:
            raise BotAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )

    async def _set_webhook(self, p: dict[str, Any]) -> _Described:
        url = p["url"]
        if not url:  # documented: an empty url removes the webhook
            return await self._delete_webhook(p)
        if urlsplit(url).scheme not in ("http", "https"):
            # Telegram demands HTTPS on ports 443/80/88/8443; plain local HTTP is the
            # one deliberate leniency, so aiogram's webhook server can be tested.
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self._pending.clear()
        if "allowed_updates" in p:
            self._set_allowed(p["allowed_updates"])
        already = self._webhook is not None and self._webhook["url"] == url
        self._webhook = {"url": url, "secret_token": secret, "max_connections": p.get("max_connections", 40)}
        self._webhook_error = None
        self._signal("_changed")  # wakes a long poll, which now answers 409
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._webhook_worker())
        return _Described(True, "Webhook is already set" if already else "Webhook was set")

    async def _delete_webhook(self, p: dict[str, Any]) -> _Described:
        if p.get("drop_pending_updates"):
            self._pending.clear()
        existed, self._webhook = self._webhook is not None, None
        self._signal("_changed")
        return _Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    async def _get_webhook_info(self, p: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._pending)}
        if self._webhook is not None:
            info["url"] = self._webhook["url"]
            info["max_connections"] = self._webhook["max_connections"]
            if self._allowed:
                info["allowed_updates"] = sorted(self._allowed)
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    async def _webhook_worker(self) -> None:
        """Deliver pending updates in order, one at a time, while a webhook is set."""
        while not self._closed and self._webhook is not None:
            if not self._pending:
                await self._waiter("_changed")
                continue
            update = self._pending[0]
            await self._deliver(self._webhook, update)
            if self._pending and self._pending[0] is update:
                self._pending.pop(0)  # delivered, or given up on

    async def _deliver(self, hook: dict[str, Any], update: dict[str, Any]) -> None:
        if self._http is None:
            self._http = ClientSession(timeout=ClientTimeout(total=10))
        headers = {"Content-Type": "application/json"}
        if hook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        for attempt in range(self.webhook_attempts):
            if attempt:
                await asyncio.sleep(self.webhook_retry_delay)
            try:
                async with self._http.post(hook["url"], data=orjson.dumps(update), headers=headers) as response:
                    if 200 <= response.status < 300:
                        await self._run_webhook_reply(response)
                        return
                    message = f"Wrong response from the webhook: {response.status} {response.reason}"
            except Exception as error:
                message = f"Connection failed: {error!r}"
            self._webhook_error = (_now(), message)
        # Telegram keeps retrying for a long time; a test wants a bounded, visible failure.
        log.warning("emulator: gave up delivering update %s to %s", update["update_id"], hook["url"])

    async def _run_webhook_reply(self, response: Any) -> None:
        """Execute a method returned in the webhook response body, as Telegram allows."""
        fields: dict[str, Any] = {}
        if response.content_type == "application/json":
            try:
                data = orjson.loads(await response.read() or b"{}")
            except orjson.JSONDecodeError:
                return
            fields = data if isinstance(data, dict) else {}
        elif response.content_type == "multipart/form-data":
            async for part in MultipartReader(response.headers, response.content):
                if isinstance(part, BodyPartReader) and part.name:  # not a nested multipart
                    fields[part.name] = await part.text()
        elif response.content_type == "application/x-www-form-urlencoded":
            fields = dict(parse_qsl(await response.text()))
        method = fields.pop("method", None)
        if isinstance(method, str) and method:
            try:
                await self._invoke(method, fields)
            except BotAPIError as error:  # the bot cannot see this result, as with Telegram
                log.info("emulator: webhook reply %s failed: %s", method, error.description)

    # --- plain methods ---------------------------------------------------------------
    async def _get_me(self, p: dict[str, Any]) -> dict[str, Any]:
        return dict(self.bot_user)

    async def _accept(self, p: dict[str, Any]) -> bool:
        return True

    def _chat_for(self, chat_id: Any) -> dict[str, Any]:
        user = self._users.get(chat_id) if isinstance(chat_id, int) else None
        if user is None:  # only private chats with users the emulator knows exist
            raise bad_request("chat not found")
        return self._private_chat(user)

    async def _send_message(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for(p["chat_id"])
        text, entities = p["text"], p.get("entities")
        if entities is None and str(p.get("parse_mode", "")).lower() == "html":
            text, entities = parse_html(text)
        # MarkdownV2/Markdown are not interpreted: the text is echoed unchanged.
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > 4096:
            raise bad_request("message is too long")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": dict(self._bot_sender),
            "chat": chat,
            "date": _now(),
            "text": text,
        }
        if entities:
            message["entities"] = entities
        markup = p.get("reply_markup")
        if markup is not None:
            if not isinstance(markup, dict):
                raise bad_request("can't parse reply keyboard markup JSON object")
            if "inline_keyboard" in markup:  # only inline keyboards are echoed back in Message
                message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        self._sent.append(message)
        return message

    async def _set_my_commands(self, p: dict[str, Any]) -> bool:
        commands = p["commands"]
        if not isinstance(commands, list) or not all(
            isinstance(c, dict) and isinstance(c.get("command"), str) and isinstance(c.get("description"), str)
            for c in commands
        ):
            raise bad_request("can't parse commands JSON object")
        self._commands[self._commands_key(p)] = commands
        return True

    async def _get_my_commands(self, p: dict[str, Any]) -> list[Any]:
        return self._commands.get(self._commands_key(p), [])

    async def _delete_my_commands(self, p: dict[str, Any]) -> bool:
        self._commands.pop(self._commands_key(p), None)
        return True

    @staticmethod
    def _commands_key(p: dict[str, Any]) -> str:
        scope = p.get("scope") or {"type": "default"}
        return f"{orjson.dumps(scope, option=orjson.OPT_SORT_KEYS).decode()}|{p.get('language_code', '')}"

    async def _set_chat_menu_button(self, p: dict[str, Any]) -> bool:
        self._menu_buttons[p.get("chat_id")] = p.get("menu_button") or {"type": "default"}
        return True

    async def _get_chat_menu_button(self, p: dict[str, Any]) -> Any:
        return self._menu_buttons.get(p.get("chat_id"), self._menu_buttons.get(None, {"type": "commands"}))

    # --- Stars payments --------------------------------------------------------------
    async def _create_invoice_link(self, p: dict[str, Any]) -> str:
        title, description, payload = p["title"], p["description"], p["payload"]
        # The upper-case descriptions are real Telegram error codes, but which code Telegram
        # picks for each mistake is not documented; the title/description texts are ours.
        if not 1 <= len(title) <= 32:
            raise bad_request("invoice title must be 1-32 characters long")
        if not 1 <= len(description) <= 255:
            raise bad_request("invoice description must be 1-255 characters long")
        if not 1 <= len(payload.encode()) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        if p["currency"] != "XTR":
            raise bad_request("CURRENCY_INVALID")  # only Telegram Stars are emulated
        if p.get("provider_token") or p.get("max_tip_amount") or p.get("suggested_tip_amounts"):
            raise bad_request("STARS_INVOICE_INVALID")  # Stars take no provider and no tips
        prices = p["prices"]
        if not isinstance(prices, list) or not all(
            isinstance(x, dict)
            and isinstance(x.get("label"), str)
            and isinstance(x.get("amount"), int)
            and not isinstance(x.get("amount"), bool)
            for x in prices
        ):
            raise bad_request("can't parse prices JSON object")
        total = sum(x["amount"] for x in prices)
        if total <= 0:
            raise bad_request("Total price must be positive")  # TDLib's check runs before any Stars rule
        if len(prices) != 1:
            raise bad_request("STARS_INVOICE_INVALID")  # a Stars invoice has exactly one price
        if total > self.max_invoice_stars:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        slug = secrets.token_urlsafe(15)
        self._invoices[slug] = {
            "slug": slug,
            "title": title,
            "description": description,
            "payload": payload,
            "currency": "XTR",
            "amount": total,
            "prices": prices,
        }
        return f"https://t.me/${slug}"

    async def _answer_pre_checkout_query(self, p: dict[str, Any]) -> bool:
        checkout = self._checkouts.get(p["pre_checkout_query_id"])
        if checkout is None or checkout.answer.done():
            raise bad_request("QUERY_ID_INVALID")  # unknown, already answered, or too late
        error_message = p.get("error_message")
        if not p["ok"] and not error_message:
            raise bad_request('parameter "error_message" is required')
        checkout.answer.set_result((bool(p["ok"]), None if p["ok"] else error_message))
        return True

    async def _get_star_transactions(self, p: dict[str, Any]) -> dict[str, Any]:
        offset = max(p.get("offset", 0), 0)
        limit = min(max(p.get("limit", 100), 1), 100)
        ordered = self._transactions[::-1] if self.newest_first else self._transactions
        return {"transactions": ordered[offset : offset + limit]}

    async def _refund_star_payment(self, p: dict[str, Any]) -> bool:
        charge_id = p["telegram_payment_charge_id"]
        charge = self._charges.get(charge_id)
        if charge is None:
            raise bad_request("CHARGE_NOT_FOUND")
        if charge.user["id"] != p["user_id"]:
            raise bad_request("USER_ID_INVALID")
        if charge.refunded:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        self._refund(charge_id, charge)
        return True

    def _refund(self, charge_id: str, charge: _Charge) -> None:
        self._mark_refunded(charge_id, charge)
        self._push_refunded_payment(charge.user, charge.payload, charge.amount, charge_id)

    def _mark_refunded(self, charge_id: str, charge: _Charge) -> None:
        charge.refunded = True
        # A refund transaction reuses the payment's id (documented) and names the user as receiver.
        self._transactions.append(
            {
                "id": charge_id,
                "amount": charge.amount,
                "date": _now(),
                "receiver": self._partner(charge.user, charge.payload),
            }
        )

    def _push_refunded_payment(self, user: Mapping[str, Any], payload: str, amount: int, charge_id: str) -> int:
        return self._push_message(
            user,
            {
                "refunded_payment": {
                    "currency": "XTR",
                    "total_amount": int(amount),
                    "invoice_payload": payload,
                    "telegram_payment_charge_id": charge_id,
                }
            },
        )

    @staticmethod
    def _partner(user: dict[str, Any], payload: str) -> dict[str, Any]:
        # transaction_type is required since Bot API 9.0 (aiogram refuses the object without it).
        return {"type": "user", "transaction_type": "invoice_payment", "user": dict(user), "invoice_payload": payload}

    # --- driver side: users, messages, payments --------------------------------------
    def make_user(
        self,
        tg_id: int,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        **extra: Any,
    ) -> dict[str, Any]:
        """A Telegram ``User`` dict; the user becomes known (the bot may message them)."""
        user: dict[str, Any] = {"id": tg_id, "is_bot": False, "first_name": first_name or f"User {tg_id}"}
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        user.update(extra)  # e.g. last_name=..., is_premium=True
        self._users[tg_id] = dict(user)
        return user

    def _known(self, user: Mapping[str, Any]) -> dict[str, Any]:
        self._users.setdefault(user["id"], dict(user))
        return dict(user)

    @staticmethod
    def _private_chat(user: Mapping[str, Any]) -> dict[str, Any]:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        chat.update({k: user[k] for k in ("last_name", "username") if k in user})
        return chat

    def _push_message(self, user: Mapping[str, Any], content: dict[str, Any], date: int | None = None) -> int:
        user = self._known(user)
        message = {
            "message_id": next(self._message_ids),
            "from": user,
            "chat": self._private_chat(user),
            "date": _now() if date is None else int(date),
            **content,
        }
        return self.push_update({"message": message})

    def send_text(self, user: Mapping[str, Any], text: str, *, date: int | None = None) -> int:
        """The user writes ``text`` to the bot in private; returns the update_id."""
        content: dict[str, Any] = {"text": text}
        if entities := command_entities(text):
            content["entities"] = entities
        return self._push_message(user, content, date)

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent (``sendMessage`` results), optionally to one chat."""
        return [m for m in self._sent if chat_id is None or m["chat"]["id"] == chat_id]

    def invoice(self, link_or_slug: str) -> dict[str, Any]:
        """The invoice behind a link returned by ``createInvoiceLink``."""
        try:
            return dict(self._invoices[_invoice_slug(link_or_slug)])
        except KeyError:
            raise LookupError(f"no invoice was created for {link_or_slug!r}") from None

    @property
    def transactions(self) -> list[dict[str, Any]]:
        """All StarTransactions in chronological order."""
        return list(self._transactions)

    async def pay(
        self,
        user: Mapping[str, Any],
        link_or_slug: str,
        *,
        charge_id: str | None = None,
        date: int | None = None,
        timeout: float = 10,
    ) -> PaymentOutcome:
        """Pay an invoice as ``user``: pre_checkout_query, then successful_payment if accepted.

        ``timeout`` is the time the bot has to answer (10 s on Telegram); after
        it the query is dead and a late answer gets QUERY_ID_INVALID.
        """
        invoice = self.invoice(link_or_slug)
        user = self._known(user)
        query_id = str(next(self._query_ids))
        answer: asyncio.Future[tuple[bool, str | None]] = asyncio.get_running_loop().create_future()
        self._checkouts[query_id] = _Checkout(user, invoice, answer)
        dropped = len(self.dropped_updates)
        self.push_update(
            {
                "pre_checkout_query": {
                    "id": query_id,
                    "from": user,
                    "currency": "XTR",
                    "total_amount": invoice["amount"],
                    "invoice_payload": invoice["payload"],
                }
            }
        )
        if len(self.dropped_updates) > dropped:
            # allowed_updates excludes pre_checkout_query: Telegram would let the user wait
            # out the deadline for nothing; the outcome is the same, so do not wait.
            log.warning("emulator: pre_checkout_query is not in allowed_updates; payment fails")
            answer.cancel()
            return PaymentOutcome(ok=False, error_message=None, charge_id=None, timed_out=True)
        try:
            # On timeout wait_for cancels `answer`, so a late answer is QUERY_ID_INVALID.
            ok, error_message = await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            return PaymentOutcome(ok=False, error_message=None, charge_id=None, timed_out=True)
        if not ok:
            return PaymentOutcome(ok=False, error_message=error_message, charge_id=None)
        charge_id = self.record_transaction(user, invoice["amount"], invoice["payload"], charge_id=charge_id, date=date)
        self._push_successful_payment(user, invoice["payload"], invoice["amount"], charge_id, date)
        return PaymentOutcome(ok=True, error_message=None, charge_id=charge_id)

    def record_transaction(
        self,
        user: Mapping[str, Any],
        amount: int,
        payload: str,
        *,
        charge_id: str | None = None,
        date: int | None = None,
    ) -> str:
        """Add an incoming StarTransaction (no update); returns its charge id."""
        user = self._known(user)
        charge_id = charge_id or f"{_STARS_CHARGE_PREFIX}{secrets.token_urlsafe(24)}"
        if charge_id in self._charges:
            raise ValueError(f"charge {charge_id!r} is already recorded")
        self._charges[charge_id] = _Charge(user, int(amount), payload)
        self._transactions.append(
            {
                "id": charge_id,
                "amount": int(amount),
                "date": _now() if date is None else int(date),
                "source": self._partner(user, payload),
            }
        )
        return charge_id

    def deliver_successful_payment(
        self,
        user: Mapping[str, Any],
        payload: str,
        amount: int,
        charge_id: str,
        date: int | None = None,
        record_transaction: bool = True,
    ) -> int:
        """Push a successful_payment message directly (duplicates, late or unknown payloads).

        The transaction is recorded once per charge id, however often it is delivered.
        """
        if record_transaction and charge_id not in self._charges:
            self.record_transaction(user, amount, payload, charge_id=charge_id, date=date)
        return self._push_successful_payment(user, payload, amount, charge_id, date)

    def deliver_refunded_payment(self, user: Mapping[str, Any], payload: str, amount: int, charge_id: str) -> int:
        """Push a refunded_payment message directly (duplicated refunds, refunds of unknown charges).

        A charge the emulator knows is marked refunded, with its refund transaction, the first time.
        """
        charge = self._charges.get(charge_id)
        if charge is not None and not charge.refunded:
            self._mark_refunded(charge_id, charge)
        return self._push_refunded_payment(user, payload, amount, charge_id)

    def _push_successful_payment(
        self, user: Mapping[str, Any], payload: str, amount: int, charge_id: str, date: int | None
    ) -> int:
        return self._push_message(
            user,
            {
                "successful_payment": {
                    "currency": "XTR",
                    "total_amount": int(amount),
                    "invoice_payload": payload,
                    "telegram_payment_charge_id": charge_id,
                    "provider_payment_charge_id": "",
                }
            },
            date,
        )

    # --- driver side: observation and fault injection --------------------------------
    @property
    def unconfirmed_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by an offset: what Telegram would deliver again."""
        return list(self._pending)

    async def wait_for_call(
        self, method: str, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 5
    ) -> dict[str, Any]:
        """Params of the oldest matching call not returned by an earlier wait_for_call.

        Each call is handed out once, so successive waits see successive calls
        whether they happened before or after the wait started.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        wanted = method.lower()
        while True:
            for index, (name, params) in enumerate(self.calls):
                if index in self._consumed_calls or name.lower() != wanted:
                    continue
                if predicate is None or predicate(params):
                    self._consumed_calls.add(index)
                    return params
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closed:
                recent = [name for name, _ in self.calls[-10:]]
                raise TimeoutError(f"no matching {method} call within {timeout}s; recent calls: {recent}")
            await asyncio.wait([self._waiter("_call_signal")], timeout=remaining)

    def fail_next(
        self,
        method: str,
        error_code: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with a Telegram-shaped error."""
        if description is None:
            description = {
                400: "Bad Request: emulated failure",
                401: "Unauthorized",
                403: "Forbidden: bot was blocked by the user",
                429: f"Too Many Requests: retry after {retry_after or 1}",
                502: "Bad Gateway",
            }.get(error_code, "Internal Server Error")
        if error_code == 429 and retry_after is None:
            retry_after = 1
        error = BotAPIError(error_code, description, retry_after)
        self._faults.setdefault(method.lower(), []).append(_Fault(error, times))

    def hold(self, method: str) -> asyncio.Event:
        """Make calls of ``method`` wait (a slow Telegram) until the returned event is set."""
        gate = self._holds[method.lower()] = asyncio.Event()
        return gate
