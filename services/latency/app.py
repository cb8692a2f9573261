"""A tiny pure-ASGI service: GET /delay?ms=N answers after N ms, GET /health.

Not a row of the matrix: it gives /downstream a real network hop with a known
service time, and costs almost nothing itself (no framework).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from services.endpoints import MS, Endpoint
from services.workload import HEALTH_BODY, BadRequest, parse_params

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DELAY = Endpoint("/delay", (MS,), frozenset({"asgi"}), "answer after ms")


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    if path not in {"/delay", "/health"}:
        await _send_json(send, 404, {"error": f"no endpoint at {path}; use /delay?ms=N"})
        return
    if method != "GET":
        await _send_json(send, 405, {"error": f"method {method} not allowed on {path}; use GET"})
        return
    if path == "/health":
        await _send_json(send, 200, HEALTH_BODY)
        return
    try:
        ms = parse_params(DELAY, scope["query_string"].decode("latin-1"))["ms"]
    except BadRequest as error:
        await _send_json(send, 400, error.body())
        return
    await asyncio.sleep(ms / 1000)
    await _send_json(send, 200, {"delayed_ms": ms})
