"""Mini App authentication: ``Authorization: tma <initData>``, validated as Telegram documents.

secret = HMAC-SHA256(key="WebAppData", msg=bot token); the data-check-string is
every received field but ``hash``, sorted, ``key=value`` joined by newlines;
the hashes are compared in constant time.  The user id comes from validated
initData alone.  A validated string is cached (a Mini App session sends the
same one with every request), and its age is re-checked on every use.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

import orjson

from ..users import Profile
from .errors import ApiError, unauthorized

MAX_FUTURE_SECONDS = 60
MAX_INIT_DATA_BYTES = 8192
CACHE_SIZE = 50_000


@dataclasses.dataclass(slots=True)
class InitData:
    profile: Profile
    auth_date: int
    start_param: str | None
    # The read model's record of this user that the profile was last found up to date
    # with (see api.context.known_caller): the read model replaces a UserInfo on every
    # change, never edits one, so while it holds this very object nothing is left to check.
    verified: object = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def tg_id(self) -> int:
        return self.profile.tg_id


class InitDataValidator:
    def __init__(self, bot_token: str, *, clock: Callable[[], float] = time.time):
        self._secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
        self._clock = clock
        self._cache: dict[str, InitData] = {}  # validated initData strings
        self._headers: dict[str, InitData] = {}  # validated Authorization headers ("tma <initData>")

    def from_header(self, header: str | None, max_age: int) -> InitData:
        data = self._headers.get(header)  # type: ignore[arg-type]
        if data is not None:  # the same header as before: only its age is left to check
            if -MAX_FUTURE_SECONDS <= self._clock() - data.auth_date <= max_age:
                return data  # (inline: this runs on every request)
            return self._check_age(data, header, max_age)  # type: ignore[arg-type]  # a key of _headers: a str
        if not header:
            raise unauthorized("Authorization header with Telegram initData is required", "missing_init_data")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "tma" or not raw.strip():
            raise unauthorized("Authorization must be 'tma <initData>'", "invalid_auth_scheme")
        data = self.validate(raw.strip(), max_age)
        self._remember(self._headers, header, data)
        return data

    def validate(self, raw: str, max_age: int) -> InitData:
        data = self._cache.get(raw)
        if data is None:
            data = self._check_signature(raw)
            self._remember(self._cache, raw, data)
        return self._check_age(data, raw, max_age)

    @staticmethod
    def _remember(cache: dict[str, InitData], key: str, data: InitData) -> None:
        if len(cache) >= CACHE_SIZE:
            cache.pop(next(iter(cache)))  # the oldest entry
        cache[key] = data

    def _check_age(self, data: InitData, key: str, max_age: int) -> InitData:
        now = self._clock()
        if data.auth_date > now + MAX_FUTURE_SECONDS:
            raise unauthorized("initData auth_date is in the future", "init_data_from_future")
        if now - data.auth_date > max_age:
            self._cache.pop(key, None)
            self._headers.pop(key, None)
            raise unauthorized("initData has expired: reopen the Mini App", "init_data_expired")
        return data

    def _check_signature(self, raw: str) -> InitData:
        if len(raw) > MAX_INIT_DATA_BYTES:
            raise unauthorized("initData is too long", "malformed_init_data")
        try:
            pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise unauthorized("initData is not a valid query string", "malformed_init_data") from None
        fields = dict(pairs)
        if len(fields) != len(pairs):
            raise unauthorized("initData has a repeated field", "malformed_init_data")
        received = fields.pop("hash", "")
        if len(received) != 64:
            raise unauthorized("initData has no valid hash", "invalid_init_data_hash")
        check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
        expected = hmac.new(self._secret, check.encode(), hashlib.sha256).hexdigest()
        # As Telegram writes it, lower-case hex: another spelling is not what was signed.
        if not hmac.compare_digest(expected.encode(), received.encode()):
            raise unauthorized("initData signature does not match this bot", "invalid_init_data_hash")
        try:
            auth_date = int(fields["auth_date"])
            user = orjson.loads(fields["user"])
            tg_id = user["id"]
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError):
            raise unauthorized("initData lacks a valid user or auth_date", "malformed_init_data") from None
        if isinstance(tg_id, bool) or not isinstance(tg_id, int) or not 0 < tg_id < 2**63:
            raise unauthorized("initData user id is invalid", "malformed_init_data")

        def text(key: str) -> str | None:
            # NUL is valid JSON ("\u0000") but no PostgreSQL text can hold it; Telegram never sends it.
            value = user.get(key)
            return value.replace("\x00", "") if isinstance(value, str) else None

        profile = Profile(
            tg_id=tg_id,
            username=text("username"),
            first_name=text("first_name"),
            last_name=text("last_name"),
            photo_url=text("photo_url"),
            language_code=text("language_code"),
        )
        return InitData(profile, auth_date, fields.get("start_param") or None)


def forbidden_blocked() -> ApiError:
    return ApiError(403, "user_blocked", "This account is blocked")
