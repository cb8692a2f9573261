"""What both middlewares do per request: count it in, time it, count it out.

This is on the request path we measure, so a request only touches plain
Python state in this process (a bucket index, two additions, under one
lock). A background thread flushes that state into prometheus-client every
FLUSH_INTERVAL_S: in multiprocess mode each prometheus-client update is a
locked write into an mmap'd file, and doing four of those per request cost
gunicorn rows several percent of their /hello throughput
(docs/performance.md). Scraped values are therefore at most
FLUSH_INTERVAL_S old, well under the 1 s scrape interval.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from time import perf_counter

from services.instrumentation.metrics import (
    ACTIVE_REQUESTS,
    REQUEST_DURATION,
    REQUEST_DURATION_BUCKETS,
)
from services.instrumentation.routes import method_label, route_label

FLUSH_INTERVAL_S = 0.1
# The histogram's bucket bounds as prometheus-client stores them (+Inf last).
_BOUNDS = (*REQUEST_DURATION_BUCKETS, float("inf"))

DurationKey = tuple[str, str, int]  # method, route, status


class _PendingDurations:
    """Observations not yet flushed for one label set: per-bucket counts and their sum."""

    __slots__ = ("bucket_counts", "total")

    def __init__(self) -> None:
        self.bucket_counts = [0] * len(_BOUNDS)
        self.total = 0.0


class RequestRecorder:
    """Per-process request state, flushed to prometheus-client by a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[DurationKey, _PendingDurations] = {}
        self._active: dict[str, int] = {}
        self._flushed_active: dict[str, int] = {}
        self._flushing = False
        # gunicorn forks workers after import, and a thread started in the
        # parent does not exist in the child: a forked child starts its own
        # flusher on its first request, with state of its own.
        os.register_at_fork(after_in_child=self._forget_parent)

    def begin(self, route: str) -> None:
        if not self._flushing:
            self._start_flusher()
        with self._lock:
            self._active[route] = self._active.get(route, 0) + 1

    def end(self, key: DurationKey, duration_s: float) -> None:
        with self._lock:
            self._active[key[1]] -= 1
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _PendingDurations()
            pending.bucket_counts[bisect_left(_BOUNDS, duration_s)] += 1
            pending.total += duration_s

    def flush(self) -> None:
        """Apply what accumulated since the last flush to the prometheus-client metrics."""
        with self._lock:
            pending, self._pending = self._pending, {}
            active = dict(self._active)
        for (method, route, status), durations in pending.items():
            child = REQUEST_DURATION.labels(method, route, str(status))
            # prometheus-client has no batch observe: add to its per-bucket
            # (non-cumulative) counters and its sum, as observe() itself does.
            child._sum.inc(durations.total)
            for bucket, count in enumerate(durations.bucket_counts):
                if count:
                    child._buckets[bucket].inc(count)
        for route, value in active.items():
            if self._flushed_active.get(route) != value:
                ACTIVE_REQUESTS.labels(route).set(value)
                self._flushed_active[route] = value

    def _forget_parent(self) -> None:
        self._lock = threading.Lock()  # the parent's may have been held at fork time
        self._pending, self._active, self._flushed_active = {}, {}, {}
        self._flushing = False

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flushing:
                return
            self._flushing = True
        threading.Thread(target=self._flush_forever, name="metrics-flush", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL_S)
            self.flush()


RECORDER = RequestRecorder()


class InFlight:
    """One request between begin() and end(); ``__slots__`` keeps it cheap."""

    __slots__ = ("method", "route", "started")

    def __init__(self, method: str, route: str) -> None:
        self.method = method
        self.route = route
        self.started = perf_counter()


def begin(method: str, path: str, routes: frozenset[str]) -> InFlight:
    request = InFlight(method_label(method), route_label(path, routes))
    RECORDER.begin(request.route)
    return request


def end(request: InFlight, status: int) -> None:
    RECORDER.end((request.method, request.route, status), perf_counter() - request.started)


def flush() -> None:
    """Flush now (worker exit, tests): nothing recorded is lost."""
    RECORDER.flush()
