"""What both middlewares do per request: note it in, note it out.

This is on the request path we measure, so a request does as little as it
can: two appends to thread-safe deques (deque.append is atomic under the
GIL), no lock, no label lookup, no bucket search. A background thread
drains the deques every FLUSH_INTERVAL_S and does the rest: method labels,
bucket counts, and the prometheus-client updates, which in multiprocess
mode are locked writes into mmap'd files (docs/performance.md has what the
request path costs). Scraped values are therefore at most FLUSH_INTERVAL_S
old, well under the 1 s scrape interval.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections import deque
from time import perf_counter
from typing import TypeVar

from services.instrumentation.metrics import (
    ACTIVE_REQUESTS,
    REQUEST_DURATION,
    REQUEST_DURATION_BUCKETS,
)
from services.instrumentation.routes import method_label

FLUSH_INTERVAL_S = 0.1
# The histogram's bucket bounds as prometheus-client stores them (+Inf last).
_BOUNDS = (*REQUEST_DURATION_BUCKETS, float("inf"))

Finished = tuple[str, str, int, float]  # raw method, route, status, duration in seconds
DurationKey = tuple[str, str, int]  # method label, route, status


class _PendingDurations:
    """Observations of one label set in one flush: per-bucket counts and their sum."""

    __slots__ = ("bucket_counts", "total")

    def __init__(self) -> None:
        self.bucket_counts = [0] * len(_BOUNDS)
        self.total = 0.0


T = TypeVar("T")


def _drain(queue: deque[T]) -> list[T]:
    # Only the flusher pops (under its lock); producers only append, so the
    # length read first is all there is to take.
    return [queue.popleft() for _ in range(len(queue))]


class RequestRecorder:
    """Per-process request log, flushed to prometheus-client by a daemon thread."""

    def __init__(self, *, background_flush: bool = True) -> None:
        # background_flush=False: only flush() publishes (benchmarks of the recorder).
        self._background_flush = background_flush
        self._started: deque[str] = deque()
        self._finished: deque[Finished] = deque()
        self._flush_lock = threading.Lock()
        self._active: dict[str, int] = {}
        self._flushed_active: dict[str, int] = {}
        self._flushing = not background_flush
        # gunicorn forks workers after import, and a thread started in the
        # parent does not exist in the child: a forked child starts its own
        # flusher on its first request, with state of its own.
        os.register_at_fork(after_in_child=self._forget_parent)

    def begin(self, route: str) -> float:
        """Count a request in; returns its start time for end()."""
        if not self._flushing:
            self._start_flusher()
        self._started.append(route)
        return perf_counter()

    def end(self, method: str, route: str, status: int, started: float) -> None:
        self._finished.append((method, route, status, perf_counter() - started))

    def flush(self) -> None:
        """Apply what accumulated since the last flush to the prometheus-client metrics."""
        with self._flush_lock:
            # Finished before started: every request drained as finished has
            # its start drained too, so the active count never dips below 0.
            finished = _drain(self._finished)
            for route in _drain(self._started):
                self._active[route] = self._active.get(route, 0) + 1
            pending: dict[DurationKey, _PendingDurations] = {}
            for method, route, status, duration_s in finished:
                self._active[route] -= 1
                key = (method_label(method), route, status)
                durations = pending.get(key)
                if durations is None:
                    durations = pending[key] = _PendingDurations()
                durations.bucket_counts[bisect_left(_BOUNDS, duration_s)] += 1
                durations.total += duration_s
            self._publish(pending)

    def _publish(self, pending: dict[DurationKey, _PendingDurations]) -> None:
        for (method, route, status), durations in pending.items():
            child = REQUEST_DURATION.labels(method, route, str(status))
            # prometheus-client has no batch observe: add to its per-bucket
            # (non-cumulative) counters and its sum, as observe() itself does.
            child._sum.inc(durations.total)
            for bucket, count in enumerate(durations.bucket_counts):
                if count:
                    child._buckets[bucket].inc(count)
        for route, value in self._active.items():
            if self._flushed_active.get(route) != value:
                ACTIVE_REQUESTS.labels(route).set(value)
                self._flushed_active[route] = value

    def _forget_parent(self) -> None:
        self._flush_lock = threading.Lock()  # the parent's may have been held at fork time
        self._started.clear()
        self._finished.clear()
        self._active, self._flushed_active = {}, {}
        self._flushing = not self._background_flush

    def _start_flusher(self) -> None:
        with self._flush_lock:
            if self._flushing:
                return
            self._flushing = True
        threading.Thread(target=self._flush_forever, name="metrics-flush", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL_S)
            self.flush()


RECORDER = RequestRecorder()
begin = RECORDER.begin
end = RECORDER.end


def flush() -> None:
    """Flush now (worker exit, tests): nothing recorded is lost."""
    RECORDER.flush()
