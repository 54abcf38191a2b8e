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


# deferred: recorded in the database (status created) and credited by a retry;
# held: not even recorded (the database refused), kept in memory and retried -- lost if
# the process dies, so the bot leaves its update unconfirmed for Telegram to redeliver.
CreditStatus = Literal["credited", "duplicate", "deferred", "held"]


@dataclasses.dataclass(frozen=True)
class CreditResult:
    status: CreditStatus
    charge_id: str
    tons_nano: int = 0


RefundOutcome = Literal["refunded", "already_refunded", "refunded_uncredited", "recorded_unknown"]


class RefundError(Exception):
    """A refund the ledger cannot apply: a charge it never saw, and no payer to record it
    under (so a later delivery of the payment could not be stopped).  Retrying changes
    nothing; the caller logs it."""


@dataclasses.dataclass
class LedgerCounters:
    """What the money path did since the process started, as plain integers: the metrics
    (server/metrics.py) read them at each scrape, so the ledger needs no metrics library."""

    credited: int = 0  # payments this process credited (the bot's, the retries', reconcile's)
    duplicates: int = 0  # deliveries of a payment already credited: nothing done
    stars_credited: int = 0  # the Stars of the credited payments
    refunds: int = 0  # refunds applied (not their duplicate deliveries)
    reconcile_fixed: int = 0  # what reconcile found missing: payments credited, refunds applied
    invoices_created: int = 0

    def count_credit(self, credited: bool, stars: int) -> None:
        """A payment credited (with its Stars), or a duplicate delivery of one."""
        if credited:
            self.credited += 1
            self.stars_credited += stars
        else:
            self.duplicates += 1
