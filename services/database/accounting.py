"""The pool metrics, noted around every checkout by the code that checks out.

Drivers count differently (asyncpg, psycopg_pool and Django's pool each keep
their own statistics, or none), so every row counts the same way for all of
them: waiting while a request asks for a connection, in use while it holds
one, and how long the asking took.

Like the request metrics (services/instrumentation/recording.py), and for
the same reason, a checkout only appends to a deque (C, atomic under the
GIL). Updating prometheus-client directly (six locked writes into mmap'd
files per checkout in multiprocess mode) costs the request about 20 times
as much as the appends: `bench db-pool-cost` (docs/database.md has the
figures), a sizeable share of a primary-key lookup. The request recorder's
flusher thread applies the events every 100 ms, so the gauges are at most
that old. Off when the row is not instrumented.
"""

from __future__ import annotations

import os
from collections import deque
from time import perf_counter

from services.instrumentation.metrics import db_pool_metrics
from services.instrumentation.recording import RECORDER

# One event per step of a checkout: ASKED, then GOT (with its wait) or GAVE_UP
# (with its wait), then RETURNED after GOT.
ASKED, GOT, GAVE_UP, RETURNED = range(4)
Event = tuple[int, float]

_events: deque[Event] = deque()
_note = _events.append
# A forked worker starts with none of its parent's events.
os.register_at_fork(after_in_child=_events.clear)


def _apply() -> None:
    """Drain the events into the gauges and the histogram (in the flusher thread)."""
    if not _events:
        return
    _, in_use, waiting, wait = db_pool_metrics()
    waiting_delta = in_use_delta = 0
    for _ in range(len(_events)):  # only this thread pops; appends may go on
        kind, seconds = _events.popleft()
        if kind == ASKED:
            waiting_delta += 1
        elif kind == RETURNED:
            in_use_delta -= 1
        else:
            waiting_delta -= 1
            in_use_delta += kind == GOT
            wait.observe(seconds)
    if waiting_delta:
        waiting.inc(waiting_delta)
    if in_use_delta:
        in_use.inc(in_use_delta)


RECORDER.also_flush(_apply)


def flush() -> None:
    """Apply the noted events now (tests)."""
    _apply()


class PoolAccounting:
    """Notes the steps of each checkout; the pool size is written directly (it rarely changes)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled

    def opened(self, size: int) -> None:
        if self.enabled:
            db_pool_metrics()[0].inc(size)

    def closed(self, size: int) -> None:
        if self.enabled:
            db_pool_metrics()[0].dec(size)

    def asking(self) -> float:
        """A request starts waiting; returns the time to pass to ``got`` or ``gave_up``."""
        if self.enabled:
            _note((ASKED, 0.0))
        return perf_counter()

    def got(self, since: float) -> None:
        """The request has its connection."""
        if self.enabled:
            _note((GOT, perf_counter() - since))

    def gave_up(self, since: float) -> None:
        """The request stopped waiting without a connection (timeout, database down)."""
        if self.enabled:
            _note((GAVE_UP, perf_counter() - since))

    def returned(self) -> None:
        if self.enabled:
            _note((RETURNED, 0.0))
