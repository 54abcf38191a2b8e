"""Several `tondonate serve` processes on one PostgreSQL database (issue: safe with several processes).

Telegram delivers an update to one poller, but a redelivery after a crash, or a
webhook retry racing a poller, can reach another process: here each process
long-polls its own Bot API emulator and both get the same payments.
"""

import asyncio

import aiohttp
import pytest
from conftest import TOKEN
from ledger_support import eventually
from test_serve import free_port, start_serve, wait_healthy

from tondonate.db import open_database
from tondonate.emulator import BotAPIEmulator, sign_init_data
from tondonate.ledger.check import check

pytestmark = pytest.mark.postgresql
PAYMENTS = 30


async def test_two_serve_processes_credit_each_payment_once(new_pg_url, tmp_path):
    db_url = new_pg_url()  # empty: both processes migrate it at once, under yoyo's lock
    async with BotAPIEmulator(token=TOKEN) as emu_a, BotAPIEmulator(token=TOKEN) as emu_b:
        ports = free_port(), free_port()
        procs = [
            await start_serve(tmp_path, emu, db_url, port) for emu, port in zip((emu_a, emu_b), ports, strict=False)
        ]
        try:
            for proc, port in zip(procs, ports, strict=False):
                await wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, timeout=60)
            # Two first visits of one new user at the same moment: one row.
            newcomer = {"id": 4242, "first_name": "New"}
            headers = {"Authorization": "tma " + sign_init_data(TOKEN, newcomer)}
            async with aiohttp.ClientSession() as session:

                async def me(port):
                    async with session.get(f"http://127.0.0.1:{port}/api/me", headers=headers) as r:
                        assert r.status == 200, await r.text()
                        return await r.json()

                await asyncio.gather(me(ports[0]), me(ports[1]))
                # The same payments delivered to both processes, interleaved.
                payer = {"id": 5151, "is_bot": False, "first_name": "Payer", "language_code": "en"}
                for n in range(PAYMENTS):
                    for emu in (emu_a, emu_b):
                        emu.deliver_successful_payment(payer, f"unknown-{n}", 10 + n, f"charge-{n}")

                db = open_database(db_url)
                await db.start()
                try:

                    async def all_settled():
                        return await db.fetchval("SELECT count(*) FROM payments WHERE status = 'paid'") == PAYMENTS

                    await eventually(all_settled, timeout=20, what="every payment credited")
                    await asyncio.sleep(1)  # let any straggling duplicate finish (it must credit nothing)
                    assert await db.fetchval("SELECT count(*) FROM users WHERE tg_id = 4242") == 1
                    assert await db.fetchval("SELECT count(*) FROM donations") == PAYMENTS
                    expected_stars = sum(10 + n for n in range(PAYMENTS))
                    assert await db.fetchval("SELECT stars FROM user_totals WHERE tg_id = 5151") == expected_stars
                    assert await check(db) == []  # every aggregate equals its recomputation
                finally:
                    await db.stop()

                # Both read models converge on the same board within a couple of seconds.
                payer_headers = {"Authorization": "tma " + sign_init_data(TOKEN, payer)}

                async def converged():
                    totals = []
                    for port in ports:
                        async with session.get(f"http://127.0.0.1:{port}/api/me", headers=payer_headers) as r:
                            totals.append((await r.json())["tons_total"])
                    return totals[0] == totals[1] == f"{expected_stars}.00"

                await eventually(converged, timeout=5, what="both read models converged")

            def thanked():  # thank-yous go out at bot.thanks_per_second, after the credits
                return sum(c[0] == "sendMessage" for emu in (emu_a, emu_b) for c in emu.calls)

            await eventually(lambda: thanked() >= PAYMENTS, timeout=10, what="every credit thanked")
            await asyncio.sleep(0.5)
            assert thanked() == PAYMENTS  # one thank-you per credit, none for duplicates
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.terminate()
            for proc in procs:
                assert await asyncio.wait_for(proc.wait(), 10) == 0
