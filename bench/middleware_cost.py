"""`bench middleware-cost`: what the instrumentation adds per request, in-process, hot.

Calls a trivial ASGI app (two send messages) in a loop, bare and wrapped in
the project's ASGI middleware, then the recorder alone (begin and end) and
its flush per request. Best of --repeats, in microseconds. It is a floor:
in a server the same code runs with colder caches (`bench overhead` has the
end-to-end figure).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from services.instrumentation.asgi import ASGIMetricsMiddleware, Message, Scope
from services.instrumentation.recording import RECORDER, RequestRecorder
from services.instrumentation.routes import served_routes

SCOPE: Scope = {"type": "http", "method": "GET", "path": "/hello"}
START: Message = {"type": "http.response.start", "status": 200, "headers": []}
BODY: Message = {"type": "http.response.body", "body": b"{}"}


async def trivial_app(
    scope: Scope, receive: Any, send: Callable[[Message], Awaitable[None]]
) -> None:
    await send(START)
    await send(BODY)


async def _discard(message: Message) -> None:
    return None


async def _empty_request() -> Message:
    return {"type": "http.request"}


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "middleware-cost",
        help="time the instrumentation per request in-process (a floor, hot caches)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=100_000, help="calls per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements; the best counts")
    parser.set_defaults(handler=run)


async def _asgi_us(app: Any, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        await app(SCOPE, _empty_request, _discard)
    return (time.perf_counter() - started) / requests * 1e6


def _recorder_us(requests: int) -> tuple[float, float]:
    """begin and end per request, then the flush of all of them per request."""
    recorder = RequestRecorder(background_flush=False)  # no thread draining meanwhile
    begin, end = recorder.begin, recorder.end
    started = time.perf_counter()
    for _ in range(requests):
        end("GET", "/hello", 200, begin("/hello"))
    recorded = time.perf_counter()
    recorder.flush()
    flushed = time.perf_counter()
    return (recorded - started) / requests * 1e6, (flushed - recorded) / requests * 1e6


def run(args: argparse.Namespace) -> int:
    if args.requests < 1 or args.repeats < 1:
        print("bench middleware-cost: --requests and --repeats must be positive")
        return 2
    wrapped = ASGIMetricsMiddleware(
        trivial_app, routes=served_routes("asgi"), app_handles_lifespan=True
    )
    bare, instrumented = [], []
    for _ in range(args.repeats):
        bare.append(asyncio.run(_asgi_us(trivial_app, args.requests)))
        instrumented.append(asyncio.run(_asgi_us(wrapped, args.requests)))
        RECORDER.flush()
    recorder = [_recorder_us(args.requests) for _ in range(args.repeats)]
    print(f"per request, best of {args.repeats} x {args.requests:,} calls (microseconds)")
    print(f"  trivial ASGI app, bare               {min(bare):6.2f}")
    print(f"  the same in ASGIMetricsMiddleware    {min(instrumented):6.2f}")
    print(f"  added by the middleware              {min(instrumented) - min(bare):6.2f}")
    print(f"    of which begin + end (recording)   {min(r for r, _ in recorder):6.2f}")
    print(f"  flusher's work, per request          {min(f for _, f in recorder):6.2f}")
    return 0
