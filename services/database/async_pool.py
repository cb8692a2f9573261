"""The ASGI rows' pools: asyncpg's (default) or psycopg's AsyncConnectionPool.

BENCH_DB_DRIVER picks one. One pool per event loop (one per process under
uvicorn and under gunicorn's event-loop workers), created by the first
request on that loop: a pool is bound to the loop it was made on.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import asyncpg
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from services.database.accounting import PoolAccounting
from services.database.errors import (
    DatabaseError,
    pool_exhausted,
    statement_timeout,
    unreachable,
)
from services.database.outage import PROBE_TIMEOUT_S, Outage
from services.database.schema import (
    QUERY_ASYNCPG,
    QUERY_PSYCOPG,
    SLEEP_ASYNCPG,
    SLEEP_PSYCOPG,
    item_body,
    random_id,
)
from services.database.sync_pool import RECONNECT_TIMEOUT_S, classify, connection_kwargs
from services.settings import DatabaseSettings

CONNECT_TIMEOUT_S = 5.0
# What asyncpg raises when the server or the connection goes away.
ASYNCPG_CONNECTION_ERRORS = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


class Backend(Protocol):
    driver: str

    async def fetchrow(self, kind: str, value: float) -> Any: ...

    async def close(self) -> None: ...


class _Closable(Protocol):
    async def close(self) -> None: ...


PoolT = TypeVar("PoolT", bound=_Closable)


class _LazyPool(Generic[PoolT]):
    """A driver's pool, opened by the first request on its loop; closed at shutdown."""

    def __init__(self, settings: DatabaseSettings, accounting: PoolAccounting) -> None:
        self.settings = settings
        self.accounting = accounting
        self._pool: PoolT | None = None
        self._lock = asyncio.Lock()

    async def _open(self) -> PoolT:
        raise NotImplementedError

    async def _get_pool(self) -> PoolT:
        if self._pool is not None:  # every request but the first: no lock
            return self._pool
        async with self._lock:
            if self._pool is None:
                self._pool = await self._open()
                self.accounting.opened(self.settings.pool)
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self.accounting.closed(self.settings.pool)
            self._pool = None


class AsyncpgBackend(_LazyPool[asyncpg.Pool]):
    driver = "asyncpg"
    statements: ClassVar[dict[str, str]] = {"sleep": SLEEP_ASYNCPG, "query": QUERY_ASYNCPG}

    async def _open(self) -> asyncpg.Pool:
        # min_size=0: creating the pool connects nothing, so it cannot fail;
        # connections open on demand and stay open for reuse.
        return await asyncpg.create_pool(
            self.settings.url,
            min_size=0,
            max_size=self.settings.pool,
            timeout=CONNECT_TIMEOUT_S,
            server_settings={"statement_timeout": str(self.settings.statement_timeout_ms)},
        )

    async def _probe(self) -> DatabaseError:
        try:
            connection = await asyncpg.connect(self.settings.url, timeout=PROBE_TIMEOUT_S)
        except (*ASYNCPG_CONNECTION_ERRORS, asyncpg.PostgresError) as error:
            return unreachable(self.settings.url, error)
        await connection.close()
        return pool_exhausted(self.settings.url, self.settings.wait_ms, self.settings.pool)

    async def fetchrow(self, kind: str, value: float) -> Any:
        pool = await self._get_pool()
        since = self.accounting.asking()
        try:
            connection = await pool.acquire(timeout=self.settings.wait_ms / 1000)
        except TimeoutError:  # no free connection in time, or connecting timed out
            self.accounting.gave_up(since)
            raise await self._probe() from None
        except (*ASYNCPG_CONNECTION_ERRORS, asyncpg.PostgresError) as error:
            self.accounting.gave_up(since)
            raise unreachable(self.settings.url, error) from None
        self.accounting.got(since)
        try:
            return await connection.fetchrow(self.statements[kind], value)
        except asyncpg.QueryCanceledError:
            raise statement_timeout(self.settings.url, self.settings.statement_timeout_ms) from None
        except (*ASYNCPG_CONNECTION_ERRORS, asyncpg.PostgresError) as error:
            raise unreachable(self.settings.url, error) from None
        finally:
            # A connection the server closed is replaced on its next checkout.
            await pool.release(connection)
            self.accounting.returned()


class PsycopgAsyncBackend(_LazyPool[AsyncConnectionPool]):
    driver = "psycopg-async"
    statements: ClassVar[dict[str, str]] = {"sleep": SLEEP_PSYCOPG, "query": QUERY_PSYCOPG}

    def __init__(self, settings: DatabaseSettings, accounting: PoolAccounting) -> None:
        super().__init__(settings, accounting)
        self.outage = Outage(settings)

    async def _open(self) -> AsyncConnectionPool:
        size = self.settings.pool
        pool = AsyncConnectionPool(
            self.settings.url,
            min_size=size,
            max_size=size,
            open=False,
            timeout=self.settings.wait_ms / 1000,
            kwargs=connection_kwargs(self.settings),
            reconnect_timeout=RECONNECT_TIMEOUT_S,
        )
        await pool.open(wait=False)
        return pool

    async def fetchrow(self, kind: str, value: float) -> Any:
        pool = await self._get_pool()
        since = self.accounting.asking()
        try:
            if self.outage.down:  # the probe is a blocking connect: off the loop
                await asyncio.to_thread(self.outage.check)
            connection = await pool.getconn()
        except DatabaseError:
            self.accounting.gave_up(since)
            raise
        except PoolTimeout:
            self.accounting.gave_up(since)
            raise await asyncio.to_thread(self.outage.after_timeout) from None
        except psycopg.Error as error:
            self.accounting.gave_up(since)
            raise unreachable(self.settings.url, error) from None
        self.accounting.got(since)
        try:
            cursor = await connection.execute(self.statements[kind], [value])
            return await cursor.fetchone()
        except psycopg.Error as error:
            raise classify(self.settings, error) from None
        finally:
            await pool.putconn(connection)
            self.accounting.returned()


BACKENDS: dict[str, type[AsyncpgBackend] | type[PsycopgAsyncBackend]] = {
    "asyncpg": AsyncpgBackend,
    "psycopg": PsycopgAsyncBackend,
}


class AsyncDatabase:
    """The BENCH_DB_DRIVER pool of each event loop; ``sleep`` and ``query`` are the workloads."""

    def __init__(self, settings: DatabaseSettings, accounting: PoolAccounting) -> None:
        self.settings = settings
        self.accounting = accounting
        self.driver = BACKENDS[settings.driver].driver
        self._backends: dict[asyncio.AbstractEventLoop, Backend] = {}

    def _backend(self) -> Backend:
        loop = asyncio.get_running_loop()
        backend = self._backends.get(loop)
        if backend is None:
            backend = BACKENDS[self.settings.driver](self.settings, self.accounting)
            self._backends[loop] = backend
        return backend

    async def sleep(self, ms: int) -> None:
        await self._backend().fetchrow("sleep", ms / 1000)

    async def query(self) -> dict[str, Any]:
        return item_body(await self._backend().fetchrow("query", random_id()))

    async def aclose(self) -> None:
        backend = self._backends.pop(asyncio.get_running_loop(), None)
        if backend is not None:
            await backend.close()
