"""What both middlewares do per request: count it in, time it, count it out."""

from __future__ import annotations

from time import perf_counter

from services.instrumentation.metrics import ACTIVE_REQUESTS, REQUEST_DURATION, worker_busy
from services.instrumentation.routes import method_label, route_label


class InFlight:
    """One request between begin() and end(); ``__slots__`` keeps it cheap."""

    __slots__ = ("method", "route", "started")

    def __init__(self, method: str, route: str) -> None:
        self.method = method
        self.route = route
        self.started = perf_counter()


def begin(method: str, path: str, routes: frozenset[str]) -> InFlight:
    request = InFlight(method_label(method), route_label(path, routes))
    ACTIVE_REQUESTS.labels(request.route).inc()
    worker_busy().inc()
    return request


def end(request: InFlight, status: int) -> None:
    duration = perf_counter() - request.started
    REQUEST_DURATION.labels(request.method, request.route, str(status)).observe(duration)
    ACTIVE_REQUESTS.labels(request.route).dec()
    worker_busy().dec()
