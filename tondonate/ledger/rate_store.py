"""The ``rates`` table: every fetched rate, so a restart can fall back to the last one.
Every statement on it is here; :class:`Rate` is what a provider hands out."""

from __future__ import annotations

import dataclasses
import decimal
import logging
from decimal import Decimal

from ..db import Connection
from ..settings import MAX_TONS_PER_STAR

log = logging.getLogger(__name__)

STORED_LOOKBACK = 10  # newest `rates` rows searched for a usable fallback


@dataclasses.dataclass(frozen=True)
class Rate:
    tons_per_star: Decimal
    source: str  # "static", "default", the (redacted) URL it was fetched from, or "ton:" and the URLs
    fetched_at: int  # unix seconds of the fetch (of the call, for static; 0 for default)
    stale: bool  # True: not a fresh value of the configured source (fallback or default)


def plain(value: Decimal) -> str:
    """Decimal as stored text: plain notation (``0.0000001``, not ``1E-7``) unless absurdly long."""
    return format(value, "f") if -40 <= value.adjusted() <= 40 else str(value)


async def store(db: Connection, rate: Rate) -> None:
    await db.execute(
        "INSERT INTO rates (fetched_at, source, tons_per_star) VALUES ($1, $2, $3)",
        rate.fetched_at,
        rate.source,
        plain(rate.tons_per_star),
    )


async def last_usable(db: Connection) -> Rate | None:
    """The newest usable row (among the newest :data:`STORED_LOOKBACK`), marked stale: one that
    is not a number > 0 up to the bound (stored before the bound existed) is skipped."""
    rows = await db.fetch(
        "SELECT fetched_at, source, tons_per_star FROM rates ORDER BY fetched_at DESC LIMIT $1", STORED_LOOKBACK
    )
    for row in rows:
        try:
            value = Decimal(row["tons_per_star"])
        except decimal.InvalidOperation:
            log.error("ignoring the stored rate %r: not a number", row["tons_per_star"])
            continue
        if not value.is_finite() or value <= 0:
            log.error("ignoring the stored rate %r: not > 0", row["tons_per_star"])
            continue
        if value > MAX_TONS_PER_STAR:
            log.error("ignoring the stored rate %r: above %s tons per Star", row["tons_per_star"], MAX_TONS_PER_STAR)
            continue
        return Rate(value, row["source"], int(row["fetched_at"]), True)
    return None
