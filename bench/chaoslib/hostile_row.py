"""Hostile input against a real ``serve``: bench/hostile.py's run, as a row of the chaos table.

The server runs with a 2 s header timeout so the slow-headers attack does not
wait the default 10 s; everything else is as an operator runs it.
"""

from __future__ import annotations

import time
from pathlib import Path

from hostile import hostile_run

from tondonate.emulator import BotAPIEmulator

from .support import TOKEN, Row, Serve


async def hostile_row(db_url: str, workdir: Path, *, examples: int = 50) -> Row:
    async with BotAPIEmulator(token=TOKEN, bot_username="chaos_bot") as emu:
        serve = Serve(emu, db_url, workdir, name="serve-hostile", TONDONATE_HTTP_HEADER_TIMEOUT_SECONDS="2")
        await serve.start()
        try:
            started = time.monotonic()
            result = await hostile_run(serve.url, TOKEN, examples=examples)
            row = Row("hostile input: schemathesis on every route, initData attacks", "sqlite", 0, 0)
            row.seconds = time.monotonic() - started
        finally:
            await serve.stop()
    row.server_errors = result.server_errors
    row.notes.append(f"{result.requests:,} requests, {examples} examples per route and auth")
    row.notes.append(f"{result.schema_violations} schema violations")
    if result.schema_violations:
        row.failures.append(f"{result.schema_violations} schema violations")
    row.failures += result.details[:3] if (result.server_errors or result.schema_violations) else []
    return row
