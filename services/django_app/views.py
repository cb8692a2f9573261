"""Django views: sync views for the WSGI row, async views for the ASGI row.

On django-asgi, /io/thread is a plain sync view: Django runs it through
``sync_to_async(thread_sensitive=True)`` inside a per-request
ThreadSensitiveContext, so each request in flight gets its own thread and
concurrent requests overlap (tests/test_concurrency.py shows it).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse

from services.database.accounting import PoolAccounting
from services.database.errors import DatabaseError
from services.database.schema import item_answer
from services.database.schema import slept_body as db_slept_body
from services.django_app.database import DjangoDatabase
from services.downstream import AsyncDownstream, DownstreamError, SyncDownstream
from services.endpoints import ENDPOINTS_BY_PATH
from services.peers import load_peer
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

SyncView = Callable[..., HttpResponse]
AsyncView = Callable[..., Awaitable[HttpResponse]]


class _Row:
    """The row this process serves, set once by create_*_app before requests."""

    settings: RowSettings | None = None
    sync_downstream: SyncDownstream | None = None
    async_downstream: AsyncDownstream | None = None
    database: DjangoDatabase | None = None


def configure(settings: RowSettings) -> None:
    """Set the row up; called by the entry points before Django builds its handler."""
    _Row.settings = settings
    if settings.peer is not None:  # a peer library plugs into Django's settings
        load_peer(settings.peer).prepare_django(settings)
    _Row.database = DjangoDatabase(settings.database, PoolAccounting(enabled=settings.instrumented))
    _Row.sync_downstream = SyncDownstream(settings.latency_url)
    _Row.async_downstream = AsyncDownstream(settings.latency_url)


def peer_urlpatterns() -> list[Any]:
    """The URLs a peer library serves (its /metrics); none for ours or the bare app."""
    peer = _row_settings().peer
    return [] if peer is None else load_peer(peer).django_urlpatterns()


def _row_settings() -> RowSettings:
    if _Row.settings is None:
        raise RuntimeError("services.django_app.views.configure() was not called")
    return _Row.settings


def _params(request: HttpRequest) -> dict[str, int]:
    return parse_params(ENDPOINTS_BY_PATH[request.path], request.META.get("QUERY_STRING", ""))


def _database() -> DjangoDatabase:
    if _Row.database is None:
        raise RuntimeError("services.django_app.views.configure() was not called")
    return _Row.database


Failure = BadRequest | DownstreamError | DatabaseError


def _error_response(error: Failure) -> JsonResponse:
    status = 400 if isinstance(error, BadRequest) else error.status
    return JsonResponse(error.body(), status=status)


def _method_not_allowed(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(method_not_allowed_body(str(request.method), request.path), status=405)
    response["Allow"] = "GET, HEAD"  # RFC 9110: a 405 names the methods the resource takes
    return response


def sync_endpoint(view: SyncView) -> SyncView:
    """GET only; bad input and downstream failures become JSON 4xx/5xx answers."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method not in {"GET", "HEAD"}:
            return _method_not_allowed(request)
        try:
            return view(request)
        except (BadRequest, DownstreamError, DatabaseError) as error:
            return _error_response(error)

    return wrapper


def async_endpoint(view: AsyncView) -> AsyncView:
    """The async twin of sync_endpoint (Django sees a coroutine function)."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method not in {"GET", "HEAD"}:
            return _method_not_allowed(request)
        try:
            return await view(request)
        except (BadRequest, DownstreamError, DatabaseError) as error:
            return _error_response(error)

    return wrapper


def _json(body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(body)


# --- both interfaces ---------------------------------------------------------


@sync_endpoint
def health(request: HttpRequest) -> HttpResponse:
    return _json(HEALTH_BODY)


@async_endpoint
async def health_async(request: HttpRequest) -> HttpResponse:
    return _json(HEALTH_BODY)


# --- WSGI row: sync views ----------------------------------------------------


@sync_endpoint
def hello(request: HttpRequest) -> HttpResponse:
    _params(request)
    return _json(hello_body(_row_settings()))


@sync_endpoint
def io_sleep(request: HttpRequest) -> HttpResponse:
    ms = _params(request)["ms"]
    time.sleep(ms / 1000)
    return _json(slept_body(ms, "time.sleep"))


@sync_endpoint
def cpu(request: HttpRequest) -> HttpResponse:
    n = _params(request)["n"]
    return _json(cpu_body(n, cpu_work(n)))


@sync_endpoint
def downstream(request: HttpRequest) -> HttpResponse:
    ms = _params(request)["ms"]
    assert _Row.sync_downstream is not None
    return _json(_Row.sync_downstream.call(ms))


@sync_endpoint
def db_sleep(request: HttpRequest) -> HttpResponse:
    """/db/sleep on django-wsgi, and /db/thread/sleep (a sync view) on django-asgi."""
    ms = _params(request)["ms"]
    _database().sleep(ms)
    return _json(db_slept_body(ms, _database().driver))


@sync_endpoint
def db_query(request: HttpRequest) -> HttpResponse:
    _params(request)
    return _json(item_answer(_database().query(), _database().driver))


# --- ASGI row: async views, plus the two deliberate contrasts ----------------


@async_endpoint
async def hello_async(request: HttpRequest) -> HttpResponse:
    _params(request)
    return _json(hello_body(_row_settings(), running_loop_name()))


@async_endpoint
async def io_async(request: HttpRequest) -> HttpResponse:
    ms = _params(request)["ms"]
    await asyncio.sleep(ms / 1000)
    return _json(slept_body(ms, "await asyncio.sleep"))


@async_endpoint
async def io_blocking(request: HttpRequest) -> HttpResponse:
    ms = _params(request)["ms"]
    time.sleep(ms / 1000)  # the anti-pattern, on purpose: blocks the event loop
    return _json(slept_body(ms, "time.sleep in async def"))


@sync_endpoint
def io_thread(request: HttpRequest) -> HttpResponse:
    ms = _params(request)["ms"]
    time.sleep(ms / 1000)  # sync view under ASGI: a thread per request (see module doc)
    return _json(slept_body(ms, "time.sleep in Django's sync_to_async thread"))


@async_endpoint
async def cpu_async(request: HttpRequest) -> HttpResponse:
    n = _params(request)["n"]
    return _json(cpu_body(n, cpu_work(n)))  # on the loop: CPU work blocks it


@async_endpoint
async def downstream_async(request: HttpRequest) -> HttpResponse:
    ms = _params(request)["ms"]
    assert _Row.async_downstream is not None
    return _json(await _Row.async_downstream.call(ms))


@async_endpoint
async def db_sleep_async(request: HttpRequest) -> HttpResponse:
    # The ORM is sync: awaited through sync_to_async, as Django's async ORM does.
    ms = _params(request)["ms"]
    await sync_to_async(_database().sleep)(ms)
    return _json(db_slept_body(ms, _database().driver))


@async_endpoint
async def db_query_async(request: HttpRequest) -> HttpResponse:
    _params(request)
    item = await sync_to_async(_database().query)()
    return _json(item_answer(item, _database().driver))


# --- errors --------------------------------------------------------------------


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return JsonResponse(not_found_body(request.path), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"error": "internal error; see the server log"}, status=500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return JsonResponse({"error": f"bad request: {exception}"}, status=400)
