"""Offline stand-ins for Telegram: a Bot API server emulator and Mini App initData signing.

Used by the test suite and by the offline ``tondonate demo``; nothing here is
imported by the production bot or API.
"""

from tondonate.emulator.botapi import BotAPIEmulator, BotAPIError, PaymentOutcome
from tondonate.emulator.initdata import data_check_string, init_data_hash, sign_init_data

__all__ = [
    "BotAPIEmulator",
    "BotAPIError",
    "PaymentOutcome",
    "data_check_string",
    "init_data_hash",
    "sign_init_data",
]
