"""One background loop, written once: every job the server repeats runs in a :class:`Periodic`.

The read model's poll, the settings refresh, the reconcile loop, the ledger's retry
of deferred credits and the paced thank-you sender all need the same things: a task
of their own, a pause between runs, a failing run logged without ending the loop,
and a stop that cancels cleanly (or first lets the work drain for a moment).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

Job = Callable[[], Awaitable[bool | None]]


class Periodic:
    """Runs ``job`` over and over in one task, ``interval`` seconds apart, until :meth:`stop`.

    * ``interval``: seconds, or a function giving them (read before each pause: a live
      setting, a back-off).  ``first_delay``: the pause before the first run after
      :meth:`start` or :meth:`wake` (default: ``interval``).
    * ``job`` returning False means "nothing left to do": the loop then waits for
      :meth:`wake` instead of the interval (a queue that emptied, retries all done).
    * A run that raises is logged as ``WARNING <failure>: <error>`` on ``log`` and the loop
      goes on after the usual pause; cancellation (:meth:`stop`) is the only end.
    """

    def __init__(
        self,
        name: str,
        job: Job,
        interval: float | Callable[[], float],
        *,
        log: logging.Logger,
        failure: str,
        first_delay: float | None = None,
    ):
        self.name = name
        self._job = job
        self._interval = interval if callable(interval) else (lambda: interval)
        self._first_delay = first_delay
        self._log = log
        self._failure = failure
        self._task: asyncio.Task[None] | None = None
        self._woken = asyncio.Event()  # work arrived (wake) since the current run began
        self._idle = asyncio.Event()  # the job said there is nothing left to do

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._idle.clear()
            self._task = asyncio.create_task(self._loop(), name=self.name)

    def wake(self) -> None:
        """There is work: start the loop, or end its idle wait."""
        self._idle.clear()  # busy from now: a stop(grace) waits for this work
        self._woken.set()
        self.start()

    async def stop(self, grace: float = 0.0) -> bool:
        """Cancel the loop, after letting it run for up to ``grace`` seconds until idle.
        True when it was idle (nothing left undone)."""
        task, self._task = self._task, None
        if task is None or task.done():
            return True
        idle = self._idle.is_set()
        if grace > 0 and not idle:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
            idle = self._idle.is_set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return idle

    def _pause(self, first: bool) -> float:
        if first and self._first_delay is not None:
            return self._first_delay
        return self._interval()

    async def _loop(self) -> None:
        first = True
        while True:
            delay = self._pause(first)
            if delay > 0:
                await asyncio.sleep(delay)
            first = False
            self._woken.clear()
            try:
                more = await self._job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log.warning("%s: %s", self._failure, exc)
                continue
            if more is False and not self._woken.is_set():
                self._idle.set()
                await self._woken.wait()
                self._idle.clear()
                first = True
