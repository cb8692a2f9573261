"""The pool metrics, kept around every checkout by the code that checks out.

Drivers count differently (asyncpg, psycopg_pool and Django's pool each have
their own statistics, or none), so the rows count the same way for all of
them: waiting while a request asks for a connection, in use while it holds
one, and how long the asking took. Off when the row is not instrumented.
"""

from __future__ import annotations

from time import perf_counter

from services.instrumentation.metrics import db_pool_metrics


class PoolAccounting:
    """Updates bench_db_pool_*; each method is one or two gauge updates."""

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
            db_pool_metrics()[2].inc()
        return perf_counter()

    def got(self, since: float) -> None:
        """The request has its connection."""
        if self.enabled:
            _, in_use, waiting, wait = db_pool_metrics()
            waiting.dec()
            in_use.inc()
            wait.observe(perf_counter() - since)

    def gave_up(self, since: float) -> None:
        """The request stopped waiting without a connection (timeout, database down)."""
        if self.enabled:
            _, _, waiting, wait = db_pool_metrics()
            waiting.dec()
            wait.observe(perf_counter() - since)

    def returned(self) -> None:
        if self.enabled:
            db_pool_metrics()[1].dec()
