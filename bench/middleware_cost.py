"""`bench middleware-cost`: what the instrumentation adds per request, in-process.

Calls two ASGI apps in a loop, bare and wrapped in the project's ASGI
middleware, in alternating blocks, and compares CPU time per request:
  * a trivial app (two send messages): the middleware's own code, hot;
  * the FastAPI rows' real app on /hello, without a server: the same code
    among the framework's, where caches are colder and it costs more.
Then the recorder alone (noting a request in and out) and its flusher's
work, per request. Medians of --blocks, in microseconds. No HTTP server
runs: `bench overhead` has the end-to-end figure, where the cost is higher
still.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from services.fastapi_app.app import create_app
from services.instrumentation.asgi import ASGIApp, ASGIMetricsMiddleware, Message, Scope
from services.instrumentation.recording import RECORDER, RequestRecorder
from services.instrumentation.routes import route_labels
from services.settings import load_settings

START: Message = {"type": "http.response.start", "status": 200, "headers": []}
BODY: Message = {"type": "http.response.body", "body": b"{}"}


def hello_scope() -> Scope:
    """A fresh GET /hello scope, as a server builds one per request."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/hello",
        "raw_path": b"/hello",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def trivial_app(
    scope: Scope, receive: Any, send: Callable[[Message], Awaitable[None]]
) -> None:
    await send(START)
    await send(BODY)


async def _discard(message: Message) -> None:
    return None


async def _empty_request() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "middleware-cost",
        help="time the instrumentation per request in-process (no server: a floor)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=3_000, help="calls per block")
    parser.add_argument("--blocks", type=int, default=20, help="blocks per app; medians count")
    parser.set_defaults(handler=run)


async def _block_us(app: ASGIApp, requests: int) -> float:
    """CPU microseconds per request over one block (every thread: the flusher's too)."""
    started = time.process_time()
    for _ in range(requests):
        await app(hello_scope(), _empty_request, _discard)
    return (time.process_time() - started) / requests * 1e6


async def _bare_and_wrapped_us(bare: ASGIApp, requests: int, blocks: int) -> tuple[float, float]:
    """Median per-request CPU of ``bare`` and of it in the middleware, blocks alternating."""
    wrapped = ASGIMetricsMiddleware(
        bare, route_labels=route_labels("asgi"), app_handles_lifespan=True
    )
    times: dict[str, list[float]] = {"bare": [], "wrapped": []}
    for block in range(blocks):
        order: list[tuple[str, ASGIApp]] = [("bare", bare), ("wrapped", wrapped)]
        for name, app in order if block % 2 == 0 else reversed(order):
            times[name].append(await _block_us(app, requests))
    RECORDER.flush()
    return statistics.median(times["bare"]), statistics.median(times["wrapped"])


def _recorder_us(requests: int) -> tuple[float, float]:
    """Noting a request in and out, then the flush of all of them, per request."""
    recorder = RequestRecorder(background_flush=False)  # no thread draining meanwhile
    note_started, note_finished = recorder.note_started, recorder.note_finished
    perf_counter = time.perf_counter
    started = perf_counter()
    for _ in range(requests):
        note_started("/hello")
        request_started = perf_counter()
        note_finished(("GET", "/hello", 200, perf_counter() - request_started))
    recorded = perf_counter()
    recorder.flush()
    flushed = perf_counter()
    return (recorded - started) / requests * 1e6, (flushed - recorded) / requests * 1e6


def run(args: argparse.Namespace) -> int:
    if args.requests < 1 or args.blocks < 1:
        print("bench middleware-cost: --requests and --blocks must be positive")
        return 2
    fastapi_app = create_app(load_settings("fastapi-async"))
    rows = [
        (name, asyncio.run(_bare_and_wrapped_us(app, args.requests, args.blocks)))
        for name, app in (("trivial ASGI app", trivial_app), ("FastAPI /hello", fastapi_app))
    ]
    recorder = [_recorder_us(args.requests) for _ in range(args.blocks)]
    print(
        f"CPU per request (microseconds), median of {args.blocks} blocks x {args.requests:,} calls"
    )
    print(f"{'app':<20}{'bare':>9}{'wrapped':>9}{'added':>8}")
    for name, (bare, wrapped) in rows:
        print(f"{name:<20}{bare:>9.2f}{wrapped:>9.2f}{wrapped - bare:>8.2f}")
    noting = statistics.median(r for r, _ in recorder)
    flushing = statistics.median(f for _, f in recorder)
    print(f"recorder, noting a request in and out: {noting:.2f}")
    print(f"recorder, its flusher's work per request: {flushing:.2f}")
    return 0
