"""Pure ASGI middleware (not BaseHTTPMiddleware): request metrics and probes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from time import perf_counter
from typing import Any

from services.endpoints import HEALTH_PATH, UNMATCHED_ROUTE
from services.instrumentation.probes import ProbeTask
from services.instrumentation.recording import RECORDER, flush, note_finished, note_started

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ASGIMetricsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        route_labels: Mapping[str, str],
        app_handles_lifespan: bool,
        on_startup: Callable[[], None] = lambda: None,
    ) -> None:
        self.app = app
        self.route_labels = route_labels
        self.app_handles_lifespan = app_handles_lifespan
        self.on_startup = on_startup
        self.probe = ProbeTask()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The request path is inline and calls no Python function of ours but
        # recording_send: in a server this code costs several times what a hot
        # loop shows (docs/performance.md). A nested coroutine would also add
        # a frame to every resumption of the request's task.
        if scope["type"] != "http" or scope["path"] == HEALTH_PATH:
            if scope["type"] == "lifespan":
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        method, route = scope["method"], self.route_labels.get(scope["path"], UNMATCHED_ROUTE)
        if not RECORDER.flushing:
            RECORDER.start_flushing()
        note_started(route)
        status = 500  # what we record if the app fails before answering

        def recording_send(message: Message) -> Awaitable[None]:
            # A plain function handing back the server's own awaitable: no
            # coroutine of ours per message.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        started = perf_counter()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            note_finished((method, route, status, perf_counter() - started))

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def observing_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.on_startup()
                self.probe.start()
            elif message["type"] == "lifespan.shutdown":
                await self.probe.stop()
                flush()
            return message

        if self.app_handles_lifespan:
            await self.app(scope, observing_receive, send)
            return
        # The app rejects lifespan (Django): complete the protocol ourselves.
        while True:
            message = await observing_receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
