"""The ``settings`` table (every statement on it is here) and :class:`SettingsStore`, the
live snapshot a running server reads: it re-reads the table every couple of seconds,
so ``tondonate config set`` is seen without a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..db import Connection, Database
from ..periodic import Periodic
from .values import SPECS, Settings, build_settings, check_consistent, unknown_setting, validate

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0


async def read_rows(db: Connection) -> dict[str, Any]:
    rows = await db.fetch("SELECT key, value_json FROM settings")
    return {row["key"]: orjson.loads(row["value_json"]) for row in rows}


async def load_settings(db: Connection, file_defaults: Mapping[str, Any]) -> Settings:
    return build_settings(file_defaults, await read_rows(db))


async def set_setting(db: Database, key: str, value: Any, file_defaults: Mapping[str, Any] | None = None) -> Any:
    """Store ``key`` = ``value`` once it is valid, alone and with the other values (the
    file layer ``file_defaults`` included); returns the stored (canonical) value."""
    value = validate(key, value)
    async with db.transaction() as conn:  # read and write under one lock: no change slips between
        rows = await read_rows(conn)
        check_consistent(build_settings(file_defaults or {}, {**rows, key: value}), key)
        await conn.execute(
            "INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at",
            key,
            orjson.dumps(value).decode(),
            int(time.time()),
        )
    return value


async def unset_setting(db: Database, key: str, file_defaults: Mapping[str, Any] | None = None) -> bool:
    """Remove ``key`` from the table (the file's value or the default applies again), unless
    that leaves the values unusable; False when it was not set."""
    if key not in SPECS:
        raise unknown_setting(key)
    async with db.transaction() as conn:
        rows = await read_rows(conn)
        if key not in rows:
            return False
        rows.pop(key)
        check_consistent(build_settings(file_defaults or {}, rows), key)
        return await conn.execute("DELETE FROM settings WHERE key = $1", key) > 0


class SettingsStore:
    """The current :class:`Settings`, refreshed from the database in the background."""

    def __init__(self, db: Connection, file_defaults: Mapping[str, Any], refresh_seconds: float = REFRESH_SECONDS):
        self.db = db
        self.file_defaults = dict(file_defaults)
        self.current: Settings = build_settings(self.file_defaults, {})
        self._listeners: list[Callable[[Settings, Settings], None]] = []
        self._refresher = Periodic(
            "settings-refresh", self._refresh, refresh_seconds, log=log, failure="could not refresh settings"
        )

    def on_change(self, listener: Callable[[Settings, Settings], None]) -> None:
        self._listeners.append(listener)

    async def refresh(self) -> Settings:
        new = await load_settings(self.db, self.file_defaults)
        old, self.current = self.current, new
        if new.values != old.values:
            for listener in self._listeners:
                listener(old, new)
        return new

    async def _refresh(self) -> None:
        await self.refresh()

    async def start(self) -> None:
        await self.refresh()
        self._refresher.start()

    async def stop(self) -> None:
        await self._refresher.stop()
