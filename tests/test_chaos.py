"""The fast subset of bench/chaos.py: a kill -9 storm on each database and a PostgreSQL
connection-kill run, with real ``serve`` processes and the Bot API emulator.

150 payments each and one kill (a ``serve`` start costs about 7 s here, most of it
aiogram building its models), so a regression fails CI rather than the next
hand-run of the bench (which publishes the full figures in the README).  The
hostile-input part runs as tests/test_schemathesis.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from chaoslib import faults, storm
from chaoslib.support import table

PAYMENTS = 150


def assert_ok(row) -> None:
    assert row.ok, "\n" + table([row])
    assert row.credited == row.payments


async def test_a_kill_9_storm_on_sqlite_loses_and_doubles_nothing(tmp_path):
    row = await storm.kill_storm(f"sqlite:///{tmp_path / 'chaos.db'}", tmp_path, payments=PAYMENTS, kills=1, seed=11)
    assert_ok(row)


@pytest.mark.postgresql
async def test_a_kill_9_storm_on_postgresql_loses_and_doubles_nothing(new_pg_url, tmp_path):
    row = await storm.kill_storm(new_pg_url(), tmp_path, payments=PAYMENTS, kills=1, seed=12)
    assert_ok(row)


@pytest.mark.postgresql
async def test_postgresql_connections_terminated_during_a_storm(new_pg_url, tmp_path):
    row = await faults.pg_terminate(new_pg_url(), tmp_path, payments=PAYMENTS, seed=13, restart=False)
    assert_ok(row)
