"""What both middlewares do per request: note it in, note it out.

This is on the request path we measure, so a request does as little as it
can: ``note_started(route)`` as it starts and ``note_finished((method,
route, status, seconds))`` as it ends. Both are a deque's own ``append``
(C, atomic under the GIL): no lock, no Python frame of ours, no label
lookup, no bucket search. In a server every extra Python call costs
several times what a hot loop shows (docs/performance.md). A background
thread drains the deques every FLUSH_INTERVAL_S and does the rest: method
labels, bucket counts, and the prometheus-client updates, which in
multiprocess mode are locked writes into mmap'd files. Scraped values are
therefore at most FLUSH_INTERVAL_S old, well under the 1 s scrape interval.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_right
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from itertools import repeat
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
LabelSet = tuple[str, str, int]  # raw method, route, status

T = TypeVar("T")


def _drain(queue: deque[T]) -> list[T]:
    # Only the flusher pops (under its lock); producers only append, so the
    # length read first is all there is to take. map() pops at C speed.
    return list(map(deque.popleft, repeat(queue, len(queue))))


def _bucket_counts(durations: list[float]) -> list[int]:
    """How many durations fall in each histogram bucket (not cumulative), sorting them.

    One bisect per bucket bound rather than one per request: a flush costs
    mostly the sort, which runs in C.
    """
    durations.sort()
    counts, below = [], 0
    for bound in _BOUNDS:
        up_to = bisect_right(durations, bound, below)  # values <= bound: Prometheus's "le"
        counts.append(up_to - below)
        below = up_to
    return counts


class RequestRecorder:
    """Per-process request log, flushed to prometheus-client by a daemon thread.

    A middleware checks ``flushing`` and calls ``start_flushing()`` when it is
    False (the first request of a process), then notes each request in and out.
    """

    def __init__(self, *, background_flush: bool = True) -> None:
        # background_flush=False: only flush() publishes (benchmarks of the recorder).
        self._background_flush = background_flush
        self._started: deque[str] = deque()
        self._finished: deque[Finished] = deque()
        self.note_started: Callable[[str], None] = self._started.append
        self.note_finished: Callable[[Finished], None] = self._finished.append
        self._flush_lock = threading.Lock()
        self._active: dict[str, int] = {}
        self._flushed_active: dict[str, int] = {}
        self.flushing = not background_flush
        # Other per-process logs drained by the same thread (the database pool's).
        self._also_flush: list[Callable[[], None]] = []
        # gunicorn forks workers after import, and a thread started in the
        # parent does not exist in the child: a forked child starts its own
        # flusher on its first request, with state of its own.
        os.register_at_fork(after_in_child=self._forget_parent)

    def flush(self) -> None:
        """Apply what accumulated since the last flush to the prometheus-client metrics."""
        with self._flush_lock:
            # Finished before started: every request drained as finished has
            # its start drained too, so the active count never dips below 0.
            finished = _drain(self._finished)
            for route, count in Counter(_drain(self._started)).items():
                self._active[route] = self._active.get(route, 0) + count
            durations_by_labels: defaultdict[LabelSet, list[float]] = defaultdict(list)
            for method, route, status, duration_s in finished:
                durations_by_labels[method, route, status].append(duration_s)
            for (method, route, status), durations in durations_by_labels.items():
                self._active[route] -= len(durations)
                _observe_all(method_label(method), route, status, durations)
            self._publish_active()
            for also in self._also_flush:
                also()

    def also_flush(self, flush: Callable[[], None]) -> None:
        """Call ``flush`` on every flush too (under the same lock, in the flusher thread)."""
        self._also_flush.append(flush)

    def _publish_active(self) -> None:
        for route, value in self._active.items():
            if self._flushed_active.get(route) != value:
                ACTIVE_REQUESTS.labels(route).set(value)
                self._flushed_active[route] = value

    def _forget_parent(self) -> None:
        self._flush_lock = threading.Lock()  # the parent's may have been held at fork time
        self._started.clear()
        self._finished.clear()
        self._active, self._flushed_active = {}, {}
        self.flushing = not self._background_flush

    def start_flushing(self) -> None:
        """Start this process's flusher thread, once."""
        with self._flush_lock:
            if self.flushing:
                return
            self.flushing = True
        threading.Thread(target=self._flush_forever, name="metrics-flush", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL_S)
            self.flush()


def _observe_all(method: str, route: str, status: int, durations: list[float]) -> None:
    child = REQUEST_DURATION.labels(method, route, str(status))
    # prometheus-client has no batch observe: add to its per-bucket
    # (non-cumulative) counters and its sum, as observe() itself does.
    child._sum.inc(sum(durations))
    for bucket, count in enumerate(_bucket_counts(durations)):
        if count:
            child._buckets[bucket].inc(count)


RECORDER = RequestRecorder()
note_started = RECORDER.note_started
note_finished = RECORDER.note_finished


def flush() -> None:
    """Flush now (worker exit, tests): nothing recorded is lost."""
    RECORDER.flush()
