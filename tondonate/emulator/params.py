"""The Bot API emulator's parameters: which each method takes, and how a form field or
a JSON value becomes a typed one; errors in Telegram's shape (``BotAPIError``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

# Parameter kinds: how a form string (or a JSON body value) becomes a Python value.
_INT, _STR, _BOOL, _JSON, _CHAT = "int", "str", "bool", "json", "chat"
_OPT, _REQ = False, True
_SPECS: dict[str, dict[str, tuple[str, bool]]] = {
    "getMe": {},
    "getUpdates": {
        "offset": (_INT, _OPT),
        "limit": (_INT, _OPT),
        "timeout": (_INT, _OPT),
        "allowed_updates": (_JSON, _OPT),
    },
    "setWebhook": {
        "url": (_STR, _REQ),
        "secret_token": (_STR, _OPT),
        "max_connections": (_INT, _OPT),
        "drop_pending_updates": (_BOOL, _OPT),
        "allowed_updates": (_JSON, _OPT),
        "ip_address": (_STR, _OPT),
    },
    "deleteWebhook": {"drop_pending_updates": (_BOOL, _OPT)},
    "getWebhookInfo": {},
    "sendMessage": {
        "chat_id": (_CHAT, _REQ),
        "text": (_STR, _REQ),
        "parse_mode": (_STR, _OPT),
        "entities": (_JSON, _OPT),
        "reply_markup": (_JSON, _OPT),
        "link_preview_options": (_JSON, _OPT),
        "reply_parameters": (_JSON, _OPT),
        "disable_notification": (_BOOL, _OPT),
        "protect_content": (_BOOL, _OPT),
        "message_thread_id": (_INT, _OPT),
    },
    "createInvoiceLink": {
        "title": (_STR, _REQ),
        "description": (_STR, _REQ),
        "payload": (_STR, _REQ),
        "provider_token": (_STR, _OPT),
        "currency": (_STR, _REQ),
        "prices": (_JSON, _REQ),
        "subscription_period": (_INT, _OPT),
        "max_tip_amount": (_INT, _OPT),
        "suggested_tip_amounts": (_JSON, _OPT),
        "photo_url": (_STR, _OPT),
    },
    "answerPreCheckoutQuery": {
        "pre_checkout_query_id": (_STR, _REQ),
        "ok": (_BOOL, _REQ),
        "error_message": (_STR, _OPT),
    },
    "getStarTransactions": {"offset": (_INT, _OPT), "limit": (_INT, _OPT)},
    "refundStarPayment": {"user_id": (_INT, _REQ), "telegram_payment_charge_id": (_STR, _REQ)},
    "setMyCommands": {"commands": (_JSON, _REQ), "scope": (_JSON, _OPT), "language_code": (_STR, _OPT)},
    "getMyCommands": {"scope": (_JSON, _OPT), "language_code": (_STR, _OPT)},
    "deleteMyCommands": {"scope": (_JSON, _OPT), "language_code": (_STR, _OPT)},
    "setChatMenuButton": {"chat_id": (_INT, _OPT), "menu_button": (_JSON, _OPT)},
    "getChatMenuButton": {"chat_id": (_INT, _OPT)},
    "close": {},
    "logOut": {},
}
_JSON_ERRORS = {"reply_markup": "can't parse reply keyboard markup JSON object"}


class BotAPIError(Exception):
    """An error answer in Telegram's shape: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(text: str) -> BotAPIError:
    return BotAPIError(400, f"Bad Request: {text}")


def _coerce(name: str, kind: str, value: Any) -> Any:
    """Turn one parameter into its typed value; form fields always arrive as strings."""
    if kind == _STR:
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, (dict, list)):
            return orjson.dumps(value).decode()
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else str(value)
    if kind in (_INT, _CHAT):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        if kind == _CHAT and isinstance(value, str) and value.startswith("@"):
            return value
        raise bad_request("chat not found" if kind == _CHAT else f'field "{name}" must be of type Integer')
    if kind == _BOOL:
        if isinstance(value, (bool, int)):
            return bool(value)
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0", ""):
            return False
        raise bad_request(f'field "{name}" must be of type Boolean')
    # _JSON: aiogram sends complex values as JSON strings; JSON bodies carry them parsed.
    if isinstance(value, (bytes, str)):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise bad_request(_JSON_ERRORS.get(name, f"can't parse {name} JSON object")) from None
    return value


def coerce_params(method: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    spec = _SPECS.get(method, {})
    # Unknown parameters are kept as sent (Telegram ignores them); null counts as absent.
    params = {name: value for name, value in raw.items() if value is not None}
    for name, (kind, required) in spec.items():
        if name not in params:
            if required:
                raise bad_request("message text is empty" if name == "text" else f'parameter "{name}" is required')
            continue
        params[name] = _coerce(name, kind, params[name])
    return params
