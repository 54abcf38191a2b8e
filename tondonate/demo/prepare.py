"""Migrate the demo database and seed it when it has no users.

``tondonate demo`` runs this as a child process (``python -m
tondonate.demo.prepare URL USERS SEED``) so that it overlaps, on another core,
the parent's import of the bot framework; the child prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

log = logging.getLogger(__name__)


class PrepareFailed(RuntimeError):
    """The child process could not migrate or seed the database; the message says why."""


# The demo works offline: the static rate, not the default ``ton`` provider (which asks
# CoinGecko and tonapi).  A rate stored in the demo's database still wins.
DEMO_SETTINGS = {"rate.provider": "static"}

DONATIONS_PER_USER = 8  # seeded donations per demo user...
SEED_WEEKS = 8  # ...spread over this many past weeks


async def prepare_database(url: str, users: int, random_seed: int = 1) -> tuple[int, int]:
    """Migrate, then seed when the database has no users; returns (users now, users seeded)."""
    from .. import users as user_rows
    from ..db import open_database
    from ..db.migrate import migrate

    await asyncio.to_thread(migrate, url)
    db = open_database(url)
    await db.start()
    try:
        seeded = 0
        if users and not await user_rows.count(db):
            from ..ledger.ledger import rate_now
            from ..seed import SeedPlan, seed
            from ..settings import load_settings

            settings = await load_settings(db, DEMO_SETTINGS)
            rate = await rate_now(db, settings)
            plan = SeedPlan(users, users * DONATIONS_PER_USER, SEED_WEEKS, seed=random_seed)
            report = await seed(db, settings, rate, plan)
            log.info("seeded %d users and %d donations in %.2f s", report.users, report.donations, report.seconds)
            seeded = report.users
        total = await user_rows.count(db)
    finally:
        await db.stop()
    return total, seeded


async def start_prepare(url: str, users: int, random_seed: int) -> asyncio.subprocess.Process:
    """Start :func:`prepare_database` in a child process (its own session: a Ctrl-C
    meant for the demo lets it finish its transaction instead of killing it)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        __name__,
        url,
        str(users),
        str(random_seed),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


async def finish_prepare(process: asyncio.subprocess.Process) -> tuple[int, int]:
    out, err = await process.communicate()
    if process.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise PrepareFailed(
            f"preparing the demo database failed: {lines[-1] if lines else f'exit {process.returncode}'}"
        )
    answer = json.loads(out.decode().strip().splitlines()[-1])
    return answer["users"], answer["seeded"]


def main(argv: list[str]) -> None:
    url, users, random_seed = argv[0], int(argv[1]), int(argv[2])
    total, seeded = asyncio.run(prepare_database(url, users, random_seed))
    print(json.dumps({"users": total, "seeded": seeded}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
