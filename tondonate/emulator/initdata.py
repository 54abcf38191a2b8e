"""Sign Telegram Mini App ``initData`` the way the Telegram client receives it.

Used by tests and by the offline demo to open the Mini App "as" a user without
Telegram. The algorithm is the documented one
(core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app):

* ``initData`` is a query string of fields; complex values (``user``) are
  JSON-serialized;
* ``data_check_string`` = every field except ``hash``, sorted by key,
  ``key=<decoded value>`` joined with ``"\\n"``;
* ``secret_key = HMAC_SHA256(key=b"WebAppData", msg=bot_token)``;
* ``hash = hex(HMAC_SHA256(key=secret_key, msg=data_check_string))``.

The ``signature`` field Telegram added in Bot API 8.0 (Ed25519, for
validation by third parties without the bot token) is deliberately NOT
produced: it is signed with Telegram's private key, which we do not have, so
any value we made up would be a forgery that no correct verifier accepts.
Real initData carries it and includes it in the data-check-string of ``hash``;
a validator that handles our output and real output alike must therefore
treat ``signature`` as an ordinary, optional field (which the documented
algorithm already does).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["data_check_string", "init_data_hash", "sign_init_data"]


def _user_json(user: Mapping[str, Any]) -> str:
    """Serialize ``user`` as the Telegram client does: compact, UTF-8, ``\\/``.

    Real initData escapes slashes (``"photo_url":"https:\\/\\/t.me\\/..."``)
    and leaves non-ASCII characters raw. A Bot API ``User`` carries
    ``is_bot: false``, which a Mini App user object never does (``is_bot`` is
    documented there only for the receiver, when it is true), so drop it to
    let callers pass ``BotAPIEmulator.make_user()`` output unchanged.
    """
    fields = {k: v for k, v in user.items() if not (k == "is_bot" and v is False)}
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    # "/" can only occur inside JSON strings, where "\/" is a valid escape.
    return text.replace("/", "\\/")


def data_check_string(fields: Mapping[str, str]) -> str:
    """The documented data-check-string of decoded ``fields`` (``hash`` excluded)."""
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def init_data_hash(bot_token: str, fields: Mapping[str, str]) -> str:
    """Hex HMAC-SHA256 of the data-check-string, keyed by the WebAppData secret."""
    secret_key = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret_key, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def sign_init_data(
    bot_token: str,
    user: Mapping[str, Any],
    *,
    auth_date: int | None = None,
    start_param: str | None = None,
    query_id: str | None = None,
    chat_type: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Return a raw ``initData`` query string signed with ``bot_token``.

    ``auth_date`` defaults to now. ``chat_type`` (e.g. ``"private"``,
    ``"sender"``) comes with a ``chat_instance`` in real data; one is derived
    deterministically unless ``extra`` supplies it. ``extra`` adds or
    overrides fields (dict/list values are JSON-serialized like ``user``).
    Values are percent-encoded with ``%20`` for spaces, as Telegram does.
    """
    fields: dict[str, str] = {}
    if query_id is not None:
        fields["query_id"] = query_id
    fields["user"] = _user_json(user)
    if chat_type is not None:
        # A stable per-(bot, user) number, shaped like real chat_instance values.
        digest = hashlib.sha256(f"{bot_token}:{user.get('id')}".encode()).digest()
        fields["chat_instance"] = str(int.from_bytes(digest[:8], "big") >> 1)
        fields["chat_type"] = chat_type
    if start_param is not None:
        fields["start_param"] = start_param
    fields["auth_date"] = str(int(time.time()) if auth_date is None else int(auth_date))
    for key, value in (extra or {}).items():
        if key == "hash":
            raise ValueError("'hash' is computed, it cannot be passed in extra")
        if isinstance(value, Mapping):
            fields[key] = _user_json(value)
        elif isinstance(value, list):
            fields[key] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        elif isinstance(value, bool):
            fields[key] = "true" if value else "false"
        else:
            fields[key] = str(value)
    fields["hash"] = init_data_hash(bot_token, fields)
    return "&".join(f"{key}={quote(value, safe='')}" for key, value in fields.items())
