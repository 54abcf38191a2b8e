"""The checks of this side: the database, the rate, the Mini App's public URL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..config import Config
from .check import FAIL, OK, WARN, Check

TIMEOUT_SECONDS = 10.0


def migration_check(url: str) -> tuple[Check, bool]:
    """The database check and whether the others may use the database (sync: yoyo, file system)."""
    from ..db import dialect_of
    from ..db.migrate import status
    from ..db.sqlite import path_from_url
    from ..redact import redact_url

    shown = redact_url(url, keep_user=True)
    try:
        if dialect_of(url) == "sqlite":
            path = shown = path_from_url(url)  # a file name: nothing secret, shown whole
            if path != ":memory:" and not Path(path).is_file():  # do not create it
                return Check(
                    FAIL, "database", f"{path} does not exist: `tondonate db migrate` (or serve) creates it"
                ), False
        states = status(url)
    except Exception as exc:  # DatabaseError, a bad URL, an unreachable server
        return Check(FAIL, "database", f"{shown}: {exc}"), False
    pending = [s.id for s in states if not s.applied]
    if pending:
        detail = (
            f"{shown}: {len(pending)} pending migration(s) ({', '.join(pending)}): "
            "run `tondonate db migrate` (serve applies them at start)"
        )
        return Check(FAIL, "database", detail), False
    return Check(OK, "database", f"{shown}: {len(states)} migrations applied"), True


async def database_checks(config: Config, me: dict[str, Any] | None) -> AsyncIterator[Check]:
    from ..bot.seen import STATE_KEY, remember_bot_id, seen_bot_id
    from ..db import open_database
    from ..ledger import check as checker
    from ..settings import load_settings

    db = open_database(config.db.url)
    await db.start()
    try:
        if me is not None:
            before = await seen_bot_id(db)
            if before is None:
                await remember_bot_id(db, me["id"])
                yield Check(OK, "bot", f"id {me['id']} recorded as this database's bot (sync_state {STATE_KEY!r})")
            elif before == me["id"]:
                yield Check(OK, "bot", f"the database belongs to this bot (id {before})")
            else:
                yield Check(
                    FAIL,
                    "bot",
                    f"bot.token is @{me.get('username')} (id {me['id']}) but this database belongs to bot id {before} "
                    f"(sync_state {STATE_KEY!r}): wrong token or wrong database",
                )
        differences = await checker.check(db)
        if differences:
            tables = ", ".join(sorted({d.table for d in differences}))
            yield Check(
                FAIL,
                "db check",
                f"{len(differences)} aggregate difference(s) in {tables}: see `tondonate db check`",
            )
        else:
            yield Check(OK, "db check", "every aggregate matches the donations")
        settings = await load_settings(db, config.settings)
        yield await _rate(db, settings)
    finally:
        await db.stop()


def _sources(settings: Any) -> str:
    """The rate's sources as an operator names them: rate.url, or the hosts of rate.ton_sources."""
    if settings["rate.provider"] == "ton":
        hosts = ", ".join(urlsplit(source["url"]).hostname or source["url"] for source in settings["rate.ton_sources"])
        return f"the TON price sources ({hosts})"
    return f"the source {settings['rate.url'] or '(rate.url unset)'}"


async def _rate(db: Any, settings: Any) -> Check:
    from ..ledger.rates import RateProvider

    if settings["rate.provider"] == "static":
        return Check(OK, "rate", f"static: {settings['rate.static_tons_per_star']} tons per Star")
    provider = RateProvider(db, lambda: settings, fetch_timeout=TIMEOUT_SECONDS)
    await provider.start()
    try:
        rate = await provider.quote()
    finally:
        await provider.stop()
    if not rate.stale:
        return Check(OK, "rate", f"{rate.tons_per_star} tons per Star from {rate.source}")
    if rate.source == "default":
        return Check(
            FAIL,
            "rate",
            f"{_sources(settings)} failed and no rate was ever stored: "
            f"payments would use rate.default_tons_per_star = {rate.tons_per_star}",
        )
    age = int(time.time()) - rate.fetched_at
    return Check(
        WARN,
        "rate",
        f"the source failed (see the log line above): payments use the rate stored {age} s ago "
        f"({rate.tons_per_star} tons per Star from {rate.source})",
    )


def _looks_like_bundle(html: str) -> bool:
    return 'id="app"' in html and "<title>tondonate</title>" in html


async def webapp_check(session: aiohttp.ClientSession, config: Config) -> Check:
    from ..server.static import bundle_dir

    url = config.webapp.url
    if not url:
        return Check(FAIL, "webapp", "webapp.url is not set (the public HTTPS URL of this server)")
    if not url.lower().startswith("https://"):
        return Check(FAIL, "webapp", f"webapp.url {url} is not HTTPS: Telegram opens Mini Apps over HTTPS only")
    try:
        async with session.get(url, headers={"Accept": "text/html"}) as response:
            status, content_type = response.status, response.content_type
            html = await response.text(errors="replace")
            final = str(response.url)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Check(FAIL, "webapp", f"GET {url} failed: {str(exc) or type(exc).__name__}")
    if not final.lower().startswith("https://"):
        return Check(FAIL, "webapp", f"GET {url} was redirected to {final}, not HTTPS")
    if status != 200 or content_type != "text/html" or not _looks_like_bundle(html):
        return Check(
            FAIL,
            "webapp",
            f"GET {url} answered {status} {content_type or '(no content type)'}, not the tondonate Mini App: "
            "is the proxy in front of tondonate (see deploy/)?",
        )
    index = bundle_dir() / "index.html"
    if index.is_file() and html.strip() != index.read_text(encoding="utf-8").strip():
        return Check(WARN, "webapp", f"{url} serves another build of the Mini App than this installation's")
    return Check(OK, "webapp", f"{url} serves the Mini App")
