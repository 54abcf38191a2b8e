"""Which bot a database belongs to: the bot id is kept in ``sync_state`` (name ``bot.id``).

``tondonate serve`` records it the first time it starts with a token, and warns when
the token belongs to another bot; ``tondonate doctor`` compares it.  A database is a
bot's ledger: payments, charge ids and refunds only make sense with that bot's token.
"""

from __future__ import annotations

import time

from ..db import Connection

STATE_KEY = "bot.id"


async def seen_bot_id(db: Connection) -> int | None:
    """The bot id this database has recorded, or None."""
    value = await db.fetchval("SELECT value FROM sync_state WHERE name = $1", STATE_KEY)
    return int(value) if value is not None else None


async def remember_bot_id(db: Connection, bot_id: int) -> int | None:
    """Record ``bot_id`` unless an id is recorded already; the recorded id when it is another bot's, else None."""
    await db.execute(
        "INSERT INTO sync_state (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        STATE_KEY,
        str(bot_id),
        int(time.time()),
    )
    before = await seen_bot_id(db)
    return None if before == bot_id else before
