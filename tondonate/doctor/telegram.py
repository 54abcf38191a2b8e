"""The checks that ask the Bot API: the token, the clock, the menu button, the webhook."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import aiohttp

from ..config import Config
from .check import FAIL, OK, WARN, Check

CLOCK_SKEW_WARN_SECONDS = 30.0
PENDING_UPDATES_WARN = 100


class BotApiError(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class BotApi:
    """Plain HTTP calls to ``bot.api_base`` (no aiogram: doctor wants the raw answer and its Date header)."""

    def __init__(self, session: aiohttp.ClientSession, config: Config):
        self.session, self.token = session, config.bot.token
        self.base = config.bot.api_base.rstrip("/")
        self.date_skew: float | None = None  # Telegram's Date minus local time, from the last answer

    async def call(self, method: str, **params: Any) -> Any:
        url = f"{self.base}/bot{self.token}/{method}"
        try:
            sent = time.time()
            async with self.session.post(url, json=params) as response:
                body = await response.json(content_type=None)
                received = time.time()
                date = response.headers.get("Date")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            message = (str(exc) or type(exc).__name__).replace(self.token, "<bot-token>")
            raise BotApiError(f"cannot reach {self.base}: {message}") from None
        if date:
            try:
                telegram = email.utils.parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                pass
            else:  # Date has whole seconds: compare with the middle of the exchange, 0.5 s slack
                self.date_skew = telegram + 0.5 - (sent + received) / 2
        if not isinstance(body, dict) or not body.get("ok"):
            code = body.get("error_code") if isinstance(body, dict) else None
            description = body.get("description") if isinstance(body, dict) else None
            raise BotApiError(f"{method}: {code} {description or 'unexpected answer'}", code)
        return body.get("result")


def clock_check(skew: float) -> Check:
    ahead = "ahead of" if skew < 0 else "behind"
    if abs(skew) > CLOCK_SKEW_WARN_SECONDS:
        return Check(
            WARN,
            "clock",
            f"this machine is {abs(skew):.0f} s {ahead} Telegram (over {CLOCK_SKEW_WARN_SECONDS:.0f} s): "
            "weeks, initData ages and rate freshness use it; enable NTP (timedatectl set-ntp true)",
        )
    return Check(OK, "clock", f"within {max(abs(skew), 1):.0f} s of Telegram's")


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


async def menu_button_check(api: BotApi, config: Config) -> Check:
    try:
        button = await api.call("getChatMenuButton")
    except BotApiError as exc:
        return Check(WARN, "menu button", f"getChatMenuButton failed: {exc}")
    kind = button.get("type") if isinstance(button, dict) else None
    if kind == "web_app":
        target = (button.get("web_app") or {}).get("url", "")
        if config.webapp.url and _same_url(target, config.webapp.url):
            return Check(OK, "menu button", f"{button.get('text')!r} opens {target}")
        return Check(
            WARN,
            "menu button",
            f"opens {target}, not webapp.url {config.webapp.url or '(unset)'}: fix it in @BotFather",
        )
    return Check(
        WARN,
        "menu button",
        f"is {kind!r}, not the Mini App: in @BotFather, Bot Settings > Menu Button, set it to {config.webapp.url or 'webapp.url'}",
    )


async def webhook_check(api: BotApi, config: Config) -> Check:
    try:
        info = await api.call("getWebhookInfo")
    except BotApiError as exc:
        return Check(FAIL, "webhook", f"getWebhookInfo failed: {exc}")
    url, pending = info.get("url", ""), int(info.get("pending_update_count", 0))
    waiting = f"{pending} update(s) waiting"
    if config.bot.mode == "polling":
        if url:
            return Check(
                FAIL,
                "webhook",
                f"a webhook is set ({url}) while bot.mode = 'polling': getUpdates fails with 409 Conflict; "
                "remove it with the Bot API's deleteWebhook, or set bot.mode = 'webhook'",
            )
        state = f"none set (bot.mode = 'polling'), {waiting}"
    else:
        if not url:
            return Check(WARN, "webhook", f"none set, {waiting}: serve sets bot.webhook_url at start; is it running?")
        if not _same_url(url, config.bot.webhook_url):
            return Check(
                FAIL, "webhook", f"set to {url}, not bot.webhook_url {config.bot.webhook_url}: another deployment?"
            )
        error = info.get("last_error_message")
        if error and time.time() - int(info.get("last_error_date", 0)) < 3600:
            return Check(WARN, "webhook", f"{url}: Telegram's last delivery failed: {error}; {waiting}")
        state = f"{url}, {waiting}"
    if pending >= PENDING_UPDATES_WARN:
        return Check(WARN, "webhook", f"{state}: updates pile up; is serve running and answering?")
    return Check(OK, "webhook", state)
