"""Helpers shared by the money-path tests (payments, reconcile, referrals)."""

from __future__ import annotations

import asyncio
import time

NANO = 10**9


async def eventually(check, timeout=5.0, what="condition"):
    """Poll ``check`` (sync or async) until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def count(db, table, where="TRUE", *args):
    return await db.fetchval(f"SELECT COUNT(*) FROM {table} WHERE {where}", *args)


async def break_donations(db, table="donations"):
    """Make every INSERT INTO ``table`` fail, for real, inside the database."""
    if db.dialect == "sqlite":
        await db.execute(f"CREATE TRIGGER boom BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'boom'); END")
    else:
        await db.execute(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$"
        )
        await db.execute(f"CREATE TRIGGER boom BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION boom()")


async def mend_donations(db, table="donations"):
    await db.execute("DROP TRIGGER boom" if db.dialect == "sqlite" else f"DROP TRIGGER boom ON {table}")
    if db.dialect != "sqlite":
        await db.execute("DROP FUNCTION boom()")
