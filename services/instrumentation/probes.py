"""Periodic probes for ASGI rows: event-loop lag and AnyIO thread-pool use.

Multiprocess mode cannot collect these by callback at scrape time (the
scrape happens in another process), so one task per event loop samples them.
"""

from __future__ import annotations

import asyncio
import contextlib

import anyio.to_thread

from services.instrumentation.metrics import event_loop_lag, threadpool_gauges

PROBE_INTERVAL_S = 0.1


async def probe_forever(interval_s: float = PROBE_INTERVAL_S) -> None:
    """Sleep ``interval_s`` repeatedly; how late each wake-up is, is the loop's lag."""
    loop = asyncio.get_running_loop()
    lag = event_loop_lag()
    busy, size, waiting = threadpool_gauges()
    limiter = anyio.to_thread.current_default_thread_limiter()
    while True:
        before = loop.time()
        await asyncio.sleep(interval_s)
        lag.observe(max(0.0, loop.time() - before - interval_s))
        busy.set(limiter.borrowed_tokens)
        size.set(limiter.total_tokens)
        waiting.set(limiter.statistics().tasks_waiting)


class ProbeTask:
    """Starts the probe on lifespan startup and cancels it on shutdown."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(probe_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
