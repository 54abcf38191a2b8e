"""Per-request access to the caller and to the shared API objects."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from ..bot.handle import BotHandle
from ..config import Config
from ..db import Database
from ..ledger import Ledger
from ..ledger.referrals import ensure_user
from ..readmodel import ReadModel, UserInfo
from ..settings import Settings, SettingsStore
from ..users import parse_ref
from .auth import InitData, InitDataValidator, forbidden_blocked


@dataclasses.dataclass(frozen=True, slots=True)
class ApiParts:
    """What the API works on, opened by the server before it serves (see server/app.py)."""

    db: Database
    store: SettingsStore
    ledger: Ledger
    model: ReadModel
    bot: BotHandle


@dataclasses.dataclass(slots=True)
class ApiState:
    """Everything a handler needs, passed to it with the request (see setup_api): no
    ``request.app[...]`` lookups on the hot paths, each of which costs a few hundred
    nanoseconds, and a board request is a few microseconds of our own code in all."""

    validator: InitDataValidator
    config: Config
    page_cache: dict[tuple[Any, ...], tuple[int, Any, int, bytes]] = dataclasses.field(default_factory=dict)
    # Set by attach(), before the first request; None only while the server starts.
    db: Database = None  # type: ignore[assignment]
    store: SettingsStore = None  # type: ignore[assignment]
    ledger: Ledger = None  # type: ignore[assignment]
    model: ReadModel = None  # type: ignore[assignment]
    bot: BotHandle = None  # type: ignore[assignment]
    # The settings every request reads, copied from each new snapshot (use_settings).
    page_size: int = 20
    decimals: int = 2
    max_age: int = 86_400

    def attach(self, parts: ApiParts) -> None:
        """Serve from ``parts``; follow their settings as they change."""
        self.db, self.store, self.ledger, self.model, self.bot = (
            parts.db,
            parts.store,
            parts.ledger,
            parts.model,
            parts.bot,
        )
        self.use_settings(parts.store.current)
        parts.store.on_change(lambda _old, new: self.use_settings(new))

    @property
    def settings(self) -> Settings:
        return self.store.current

    def use_settings(self, settings: Settings) -> None:
        self.page_size = settings["leaderboard.page_size"]
        self.decimals = settings.tons_decimals
        self.max_age = settings["auth.max_age_seconds"]


API = web.AppKey("api_state", ApiState)


@dataclasses.dataclass(slots=True)  # not frozen: its __init__ runs on every request, and frozen's is slower
class Caller:
    init: InitData
    info: UserInfo
    created: bool = False
    referral: str = "none"

    @property
    def tg_id(self) -> int:
        return self.init.tg_id


def authenticate(request: web.Request, api: ApiState) -> InitData:
    """The caller's validated initData (401 otherwise); no database access."""
    return api.validator.from_header(request.headers.get("Authorization"), api.max_age)


def _up_to_date(known: UserInfo, profile) -> bool:
    """True when the initData says nothing new: a field it lacks keeps its stored value
    (as :func:`ensure_user` does), so a user without a photo costs no DB access either.
    (Spelled out, not looped: this runs on every request.)"""
    if profile.username != known.username:  # absent means removed (see users._CLEARED_WHEN_ABSENT)
        return False
    value = profile.first_name
    if value is not None and value != known.first_name:
        return False
    value = profile.photo_url
    if value is not None and value != known.photo_url:
        return False
    value = profile.language_code
    return value is None or value == known.language_code


async def caller(request: web.Request, api: ApiState, *, ref_code: int | None = None) -> Caller:
    """The validated caller, created on first sight (with the referral rule) and
    refreshed when the profile changed.  Known, unchanged users cost no DB access."""
    init = authenticate(request, api)
    model = api.model
    known = model.users.get(init.tg_id)
    profile = init.profile
    if known is not None and _up_to_date(known, profile):
        if known.is_blocked:
            raise forbidden_blocked()
        if ref_code is not None:  # an explicit attach by an existing user: let the rule refuse and log it
            await ensure_user(api.db, profile, ref_code)
            return Caller(init, known, False, "refused:existing_user")
        return Caller(init, known)
    ref = ref_code if ref_code is not None else parse_ref(init.start_param)
    result = await ensure_user(api.db, profile, ref)
    info = UserInfo(
        profile.username,
        profile.first_name,
        profile.photo_url,
        result.is_blocked,
        result.referrer_id,
        profile.language_code,
    )
    if known is not None:  # keep fields the initData did not carry
        info = UserInfo(
            profile.username,
            profile.first_name or known.first_name,
            profile.photo_url or known.photo_url,
            known.is_blocked,
            known.referrer_id,
            profile.language_code or known.language_code,
        )
    model.remember_user(init.tg_id, info)
    if info.is_blocked:
        raise forbidden_blocked()
    return Caller(init, info, result.created, result.referral)


def known_caller(request: web.Request, api: ApiState) -> int | None:
    """The validated caller's id when nothing is left to do for them: a known, unblocked
    user whose initData says nothing new (two dictionary lookups).  None for anyone else
    (a first visit, a changed profile, a blocked user): ask :func:`caller`.  Not a
    coroutine: the read-only routes call it on every request."""
    init = api.validator.from_header(request.headers.get("Authorization"), api.max_age)
    profile = init.profile
    known = api.model.users.get(profile.tg_id)
    if known is None:
        return None
    if known is not init.verified:  # the user's record changed (or this initData is new): compare
        if known.is_blocked or not _up_to_date(known, profile):
            return None
        init.verified = known
    return profile.tg_id
