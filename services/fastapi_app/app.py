"""The FastAPI rows' endpoints, one per concurrency style.

``async def`` handlers run on the event loop; plain ``def`` handlers run in
AnyIO's thread pool. /io/blocking calls ``time.sleep`` inside ``async def``
on purpose: it stalls the whole loop, which is what that endpoint shows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.database.accounting import PoolAccounting
from services.database.async_pool import AsyncDatabase
from services.database.errors import DatabaseError
from services.database.schema import item_answer
from services.database.schema import slept_body as db_slept_body
from services.database.sync_pool import SyncDatabase
from services.downstream import AsyncDownstream, DownstreamError
from services.endpoints import ENDPOINTS_BY_PATH
from services.settings import RowSettings
from services.workload import (
    HEALTH_BODY,
    BadRequest,
    cpu_body,
    cpu_work,
    hello_body,
    method_not_allowed_body,
    not_found_body,
    parse_params,
    running_loop_name,
    slept_body,
)

Body = dict[str, object]


def _params(request: Request) -> dict[str, int]:
    endpoint = ENDPOINTS_BY_PATH[request.url.path]
    return parse_params(endpoint, request.scope["query_string"].decode("latin-1"))


def create_app(settings: RowSettings) -> FastAPI:
    downstream = AsyncDownstream(settings.latency_url)
    accounting = PoolAccounting(enabled=settings.instrumented)
    database = AsyncDatabase(settings.database, accounting)
    # /db/thread/*: the sync pool most FastAPI code with a sync driver ends up with.
    thread_database = SyncDatabase(settings.database, accounting)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await downstream.aclose()
        await database.aclose()
        thread_database.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> Body:
        return HEALTH_BODY

    @app.get("/hello")
    async def hello(request: Request) -> Body:
        _params(request)
        return hello_body(settings, running_loop_name())

    @app.get("/io")
    async def io(request: Request) -> Body:
        ms = _params(request)["ms"]
        await asyncio.sleep(ms / 1000)
        return slept_body(ms, "await asyncio.sleep")

    @app.get("/async")
    async def seed_async(request: Request) -> Body:
        ms = _params(request)["ms"]
        await asyncio.sleep(ms / 1000)
        return slept_body(ms, "await asyncio.sleep")

    @app.get("/io/blocking")
    async def io_blocking(request: Request) -> Body:
        ms = _params(request)["ms"]
        time.sleep(ms / 1000)  # the anti-pattern, on purpose: blocks the event loop
        return slept_body(ms, "time.sleep in async def")

    @app.get("/io/thread")
    def io_thread(request: Request) -> Body:
        ms = _params(request)["ms"]
        time.sleep(ms / 1000)  # a plain def handler: runs in AnyIO's thread pool
        return slept_body(ms, "time.sleep in a thread-pool thread")

    @app.get("/cpu")
    async def cpu(request: Request) -> Body:
        n = _params(request)["n"]
        return cpu_body(n, cpu_work(n))  # on the loop: CPU work blocks it like any code

    @app.get("/downstream")
    async def downstream_call(request: Request) -> Body:
        ms = _params(request)["ms"]
        return await downstream.call(ms)

    @app.get("/db/sleep")
    async def db_sleep(request: Request) -> Body:
        ms = _params(request)["ms"]
        await database.sleep(ms)
        return db_slept_body(ms, database.driver)

    @app.get("/db/query")
    async def db_query(request: Request) -> Body:
        _params(request)
        return item_answer(await database.query(), database.driver)

    @app.get("/db/thread/sleep")
    def db_thread_sleep(request: Request) -> Body:
        ms = _params(request)["ms"]
        thread_database.sleep(ms)  # a plain def handler: runs in AnyIO's thread pool
        return db_slept_body(ms, thread_database.driver)

    @app.get("/db/thread/query")
    def db_thread_query(request: Request) -> Body:
        _params(request)
        return item_answer(thread_database.query(), thread_database.driver)

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, error: BadRequest) -> JSONResponse:
        return JSONResponse(error.body(), status_code=400)

    @app.exception_handler(DownstreamError)
    async def downstream_failed(_: Request, error: DownstreamError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(DatabaseError)
    async def database_failed(_: Request, error: DatabaseError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:
            return JSONResponse(not_found_body(request.url.path), status_code=404)
        if error.status_code == 405:
            body = method_not_allowed_body(request.method, request.url.path)
            # Starlette's headers carry Allow, which RFC 9110 requires on a 405.
            return JSONResponse(body, status_code=405, headers=error.headers)
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)

    return app
