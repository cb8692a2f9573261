"""Telling a database that is down from a pool that is full, and failing fast while it is down.

A psycopg pool that cannot connect keeps retrying in the background, and a
request to it waits its whole wait bound (BENCH_DB_WAIT_MS) before it times
out: on a one-worker sync row every request would hold the worker that long.
So after a timeout one probe connection tells "down" from "exhausted"; while
the database is down, each request probes first (a refused connection
answers at once) and only goes back to the pool once a probe connects.
"""

from __future__ import annotations

import psycopg

from services.database.errors import DatabaseError, pool_exhausted, unreachable
from services.settings import DatabaseSettings

PROBE_TIMEOUT_S = 2


def probe(settings: DatabaseSettings) -> DatabaseError | None:
    """The error of connecting to the database directly; None when it answers."""
    try:
        psycopg.connect(settings.url, connect_timeout=PROBE_TIMEOUT_S).close()
    except psycopg.Error as error:
        return unreachable(settings.url, error)
    return None


class Outage:
    """Whether the last probe of this process found the database down."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self.down = False

    def check(self) -> None:
        """While down: raise at once if the database still does not answer."""
        if self.down:
            error = probe(self.settings)
            if error is not None:
                raise error
            self.down = False

    def after_timeout(self) -> DatabaseError:
        """The answer for a request that waited its bound: database down, or pool exhausted."""
        error = probe(self.settings)
        self.down = error is not None
        return error or pool_exhausted(self.settings.url, self.settings.wait_ms, self.settings.pool)
