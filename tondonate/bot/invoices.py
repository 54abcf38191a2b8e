"""Telegram's side of an invoice: ``createInvoiceLink`` for a quote the ledger issued,
with the title and description in the payer's language."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.types import LabeledPrice

from ..i18n import t
from ..ledger import CURRENCY, Quote
from ..ledger.money import format_tons, to_nano
from .errors import TelegramUnavailable

log = logging.getLogger(__name__)


async def create_invoice_link(bot: Bot, quote: Quote, language_code: str | None, decimals: int) -> str:
    """The link that opens the Stars invoice; its payload is the quote's invoice id.
    :class:`TelegramUnavailable` when Telegram refuses or cannot be reached."""
    tons_text = format_tons(to_nano(quote.tons), decimals)
    try:
        return await bot.create_invoice_link(
            title=t(language_code, "invoice_title", stars=quote.stars)[:32],
            description=t(language_code, "invoice_description", stars=quote.stars, tons=tons_text)[:255],
            payload=quote.invoice_id,
            currency=CURRENCY,
            prices=[LabeledPrice(label=t(language_code, "invoice_label"), amount=quote.stars)],
            provider_token="",
        )
    except (TelegramAPIError, TelegramNetworkError) as exc:
        log.error("createInvoiceLink failed: %s", exc)
        raise TelegramUnavailable(str(exc)) from exc
