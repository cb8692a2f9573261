"""Pooled HTTP clients for /downstream: sync for sync rows, async for async rows.

One client per process (per event loop for async), reused across requests,
so /downstream measures a real keep-alive call, not connection setup.

The client is httpx2 (the maintained fork of httpx, the one Starlette's
test client now uses), not httpx 0.29: httpcore 1.0's pool rescans every
connection for every queued request, so an async row with a few hundred
calls in flight spent 10 ms of CPU per call instead of 1.3 and served a
third of what it could, at a rate that moved from run to run
(docs/performance.md, "/downstream and the client's pool").
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import httpx2

# Headroom over the requested delay before we call the latency service late.
TIMEOUT_MARGIN_S = 5.0
# httpx's own default limit, every connection kept alive (its default keeps 20,
# and would reconnect the rest). A bounded pool makes a deep overload wait in
# the pool, cheaply: with 1000, fastapi-async offered 900 requests/s opened
# hundreds of connections and served 370 at 2.8 ms of CPU each; with 100 it
# served 750 at 1.3 ms. 100 calls of 100 ms are 1000 requests/s, more than
# any row here serves on /downstream.
POOL_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=100)


@dataclass
class DownstreamError(Exception):
    """The latency service could not give an answer: a 502/503/504 for the caller."""

    status: int
    message: str

    def body(self) -> dict[str, Any]:
        return {"error": self.message}


def _timeout(ms: int) -> httpx2.Timeout:
    return httpx2.Timeout(ms / 1000 + TIMEOUT_MARGIN_S, connect=2.0)


def _result(base_url: str, ms: int, response: httpx2.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise DownstreamError(502, f"latency service at {base_url} answered {response.status_code}")
    return {"downstream_ms": ms, "downstream": base_url}


def _error(base_url: str, error: httpx2.HTTPError) -> DownstreamError:
    if isinstance(error, httpx2.TimeoutException):
        return DownstreamError(504, f"latency service at {base_url} timed out: {error!r}")
    if isinstance(error, httpx2.ConnectError):
        return DownstreamError(503, f"latency service unreachable at {base_url}: {error}")
    return DownstreamError(502, f"latency service at {base_url} failed: {error!r}")


class SyncDownstream:
    """httpx2.Client shared by every thread (or green thread) of the process."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._client: httpx2.Client | None = None
        self._lock = threading.Lock()

    def _get_client(self) -> httpx2.Client:
        # Created on first use, not at import: gunicorn forks workers after
        # import, and a pool must never be shared across processes.
        with self._lock:
            if self._client is None:
                self._client = httpx2.Client(base_url=self.base_url, limits=POOL_LIMITS)
            return self._client

    def call(self, ms: int) -> dict[str, Any]:
        try:
            response = self._get_client().get("/delay", params={"ms": ms}, timeout=_timeout(ms))
        except httpx2.HTTPError as error:
            raise _error(self.base_url, error) from None
        return _result(self.base_url, ms, response)


class AsyncDownstream:
    """httpx2.AsyncClient per event loop (one per process under uvicorn)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._clients: dict[asyncio.AbstractEventLoop, httpx2.AsyncClient] = {}

    def _get_client(self) -> httpx2.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = httpx2.AsyncClient(base_url=self.base_url, limits=POOL_LIMITS)
            self._clients[loop] = client
        return client

    async def call(self, ms: int) -> dict[str, Any]:
        try:
            response = await self._get_client().get(
                "/delay", params={"ms": ms}, timeout=_timeout(ms)
            )
        except httpx2.HTTPError as error:
            raise _error(self.base_url, error) from None
        return _result(self.base_url, ms, response)

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
