"""``/start [ref_<tg_id>]``: register the user, apply the referral rule, open the Mini App."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, WebAppInfo

from ..config import Config
from ..db import Database
from ..i18n import t
from ..ledger.referrals import ensure_user
from ..users import Profile, parse_ref

log = logging.getLogger(__name__)


async def on_start(message: Message, command: CommandObject, db: Database, config: Config) -> None:
    user = message.from_user
    if user is None or user.is_bot:
        return
    result = await ensure_user(db, Profile.from_telegram(user), parse_ref(command.args))
    lang = user.language_code
    text = t(lang, "start_referred" if result.referral == "attached" else "start")
    if not config.webapp.url:
        log.warning("webapp.url is not set: /start cannot offer the Mini App button")
        await message.answer(f"{text}\n\n{t(lang, 'no_webapp')}")
        return
    # The referral is already applied here, so the button needs no start parameter.
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t(lang, "open_app"), web_app=WebAppInfo(url=config.webapp.url))]]
    )
    await message.answer(text, reply_markup=keyboard)


def make_router() -> Router:
    """A fresh Router per Dispatcher (a Router can be attached to one parent only)."""
    router = Router(name=__name__)
    router.message.register(on_start, CommandStart())
    return router
