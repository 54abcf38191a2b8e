"""periodic.Periodic, the one background loop: pauses, errors, idling until woken, stopping."""

from __future__ import annotations

import asyncio
import logging
import time

from ledger_support import eventually

from tondonate.periodic import Periodic

log = logging.getLogger("tondonate.test_periodic")


async def test_runs_again_and_again_and_a_failing_run_does_not_end_it(caplog):
    runs = []

    async def job():
        runs.append(time.monotonic())
        if len(runs) == 2:
            raise RuntimeError("flaky source")

    loop = Periodic("t", job, 0.05, log=log, failure="the job failed", first_delay=0)
    loop.start()
    await eventually(lambda: len(runs) >= 4, timeout=2, what="four runs")
    await loop.stop()
    assert "the job failed: flaky source" in caplog.text
    gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)]
    assert runs[0] and min(gaps) >= 0.04  # the first at once, then one every 0.05 s, errors included
    count = len(runs)
    await asyncio.sleep(0.15)
    assert len(runs) == count and not loop.running


async def test_idle_until_woken_and_a_stop_with_grace_lets_the_work_drain():
    queue: list[int] = []
    done: list[int] = []

    async def job():
        if not queue:
            return False  # nothing to do: wait for wake()
        done.append(queue.pop(0))
        return bool(queue)

    loop = Periodic("t", job, lambda: 0.05, log=log, failure="x", first_delay=0)
    queue.extend([1, 2])
    loop.wake()
    await eventually(lambda: done == [1, 2], timeout=2, what="the first two")
    await asyncio.sleep(0.2)
    assert done == [1, 2] and loop.running  # idle, not ended
    queue.extend([3, 4, 5])
    loop.wake()
    assert await loop.stop(grace=2)  # drained: idle again before the grace ran out
    assert done == [1, 2, 3, 4, 5]


async def test_stop_gives_up_after_its_grace():
    async def job():
        await asyncio.sleep(10)

    loop = Periodic("t", job, 0.05, log=log, failure="x", first_delay=0)
    loop.start()
    await asyncio.sleep(0.05)
    started = time.monotonic()
    assert not await loop.stop(grace=0.2)
    assert time.monotonic() - started < 1 and not loop.running
