"""The values that travel the money path, from Telegram's word to the stored credit."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ..users import Profile

CURRENCY = "XTR"  # Telegram Stars: the only currency tondonate invoices


@dataclasses.dataclass(frozen=True)
class IncomingPayment:
    """A successful payment as Telegram reported it (an update or getStarTransactions)."""

    charge_id: str
    tg_id: int
    payload: str | None  # our invoice id, when the payment is for one of our invoices
    stars: int
    currency: str
    paid_at: int  # unix seconds Telegram took the money (message date)
    profile: Profile
    raw: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Credit:
    """A payment priced for crediting: what the statements write for it."""

    charge_id: str
    tg_id: int
    stars: int
    tons_nano: int
    paid_at: int  # the donation's time; reached_at of every total it raises
    week: str  # the ISO week of paid_at in week.timezone


CreditStatus = Literal["credited", "duplicate", "deferred"]


@dataclasses.dataclass(frozen=True)
class CreditResult:
    status: CreditStatus  # deferred: kept (recorded or in memory) and retried
    charge_id: str
    tons_nano: int = 0


RefundOutcome = Literal["refunded", "already_refunded", "refunded_uncredited", "recorded_unknown", "unknown"]
