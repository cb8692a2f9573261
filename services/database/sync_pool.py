"""psycopg 3 with psycopg_pool.ConnectionPool: the WSGI rows' driver, and /db/thread/*.

One pool per process, created on first use: gunicorn forks its workers after
importing the app, and a pool (its sockets, its worker threads) must never be
shared across processes. Under gunicorn's gevent worker the same code is
cooperative: psycopg sees the monkey-patched ``select`` when it is first
imported (in the worker, after patching) and waits through it instead of
its C wait function, which would block the hub (tests/test_database_live.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from services.database.accounting import PoolAccounting
from services.database.errors import DatabaseError, statement_timeout, unreachable
from services.database.outage import Outage
from services.database.schema import QUERY_PSYCOPG, SLEEP_PSYCOPG, item_body, random_id
from services.settings import DatabaseSettings

DRIVER = "psycopg"
CONNECT_TIMEOUT_S = 5
# A pool gives up a reconnection that keeps failing after this long (psycopg's
# default is 5 minutes); the next request then starts a new one at once, so
# after a long outage the pool refills as soon as the database is back.
RECONNECT_TIMEOUT_S = 10.0


def connection_kwargs(settings: DatabaseSettings) -> dict[str, Any]:
    """What every pooled psycopg connection is opened with (sync and async pools)."""
    return {
        "autocommit": True,  # one statement per checkout: no transaction to hold open
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": f"-c statement_timeout={settings.statement_timeout_ms}",
    }


def classify(settings: DatabaseSettings, error: psycopg.Error) -> DatabaseError:
    """The JSON answer for a psycopg error raised while using a connection."""
    if isinstance(error, psycopg.errors.QueryCanceled):
        return statement_timeout(settings.url, settings.statement_timeout_ms)
    return unreachable(settings.url, error)


class SyncDatabase:
    """The process's psycopg pool; ``sleep`` and ``query`` are the two workloads."""

    driver = DRIVER

    def __init__(self, settings: DatabaseSettings, accounting: PoolAccounting) -> None:
        self.settings = settings
        self.accounting = accounting
        self._pool: ConnectionPool | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self.outage = Outage(settings)

    def _get_pool(self) -> ConnectionPool:
        pool = self._pool
        if pool is not None and self._pid == os.getpid():  # every request but the first
            return pool
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                # A pool inherited through fork belongs to the parent: leave it be.
                size = self.settings.pool
                self._pool = ConnectionPool(
                    self.settings.url,
                    min_size=size,  # a fixed-size pool, opened in the background
                    max_size=size,
                    open=False,
                    timeout=self.settings.wait_ms / 1000,
                    kwargs=connection_kwargs(self.settings),
                    name=f"bench-{os.getpid()}",
                    reconnect_timeout=RECONNECT_TIMEOUT_S,
                )
                self._pool.open(wait=False)
                self._pid = os.getpid()
                self.accounting.opened(size)
            return self._pool

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        pool = self._get_pool()
        since = self.accounting.asking()
        try:
            self.outage.check()
            connection = pool.getconn()
        except DatabaseError:
            self.accounting.gave_up(since)
            raise
        except PoolTimeout:
            self.accounting.gave_up(since)
            raise self.outage.after_timeout() from None
        except psycopg.Error as error:
            self.accounting.gave_up(since)
            raise unreachable(self.settings.url, error) from None
        self.accounting.got(since)
        try:
            yield connection
        finally:
            # A connection broken by a database restart is discarded here and
            # replaced in the background: the pool recovers on its own.
            pool.putconn(connection)
            self.accounting.returned()

    def _fetchone(self, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
        try:
            with self._connection() as connection:
                return connection.execute(sql, params).fetchone()
        except psycopg.Error as error:
            raise classify(self.settings, error) from None

    def sleep(self, ms: int) -> None:
        """One SELECT pg_sleep: the database holds a pooled connection for ``ms``."""
        self._fetchone(SLEEP_PSYCOPG, [ms / 1000])

    def query(self) -> dict[str, Any]:
        """A primary-key lookup of a random seeded row."""
        return item_body(self._fetchone(QUERY_PSYCOPG, [random_id()]))

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.close()
                self.accounting.closed(self.settings.pool)
            self._pool = None
