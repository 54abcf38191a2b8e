"""What goes wrong on the Telegram side, as the rest of the server hears it (no aiogram
here: the HTTP side maps these to its answers without loading the bot framework)."""

from __future__ import annotations


class BotUnavailable(Exception):
    """The bot is still starting, or could not start: try again after ``retry_after`` s."""

    def __init__(self, code: str, message: str, retry_after: int):
        super().__init__(message)
        self.code = code  # bot_starting | bot_unavailable
        self.message = message
        self.retry_after = retry_after


class TelegramUnavailable(Exception):
    """Telegram refused a call or could not be reached; the message says which."""


class RedeliverLater(Exception):
    """A handler could not make its update durable (the database refused the payment):
    the update stays unconfirmed and Telegram delivers it again (see bot/updates.py)."""
