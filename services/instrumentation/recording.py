"""What both middlewares do per request: count it in, time it, count it out.

This is on the request path we measure, so it does the least it can: label
children are looked up once and cached (prometheus-client's ``labels()``
costs about as much as the update itself), and nothing else is allocated
but one small object per request.
"""

from __future__ import annotations

from time import perf_counter

from prometheus_client import Gauge, Histogram

from services.instrumentation.metrics import ACTIVE_REQUESTS, REQUEST_DURATION
from services.instrumentation.routes import method_label, route_label

# The label sets are bounded (route templates x methods x statuses), so are these.
_active_by_route: dict[str, Gauge] = {}
_duration_by_labels: dict[tuple[str, str, int], Histogram] = {}


def _active(route: str) -> Gauge:
    child = _active_by_route.get(route)
    if child is None:
        child = _active_by_route[route] = ACTIVE_REQUESTS.labels(route)
    return child


def _duration(method: str, route: str, status: int) -> Histogram:
    key = (method, route, status)
    child = _duration_by_labels.get(key)
    if child is None:
        child = _duration_by_labels[key] = REQUEST_DURATION.labels(method, route, str(status))
    return child


class InFlight:
    """One request between begin() and end(); ``__slots__`` keeps it cheap."""

    __slots__ = ("active", "method", "route", "started")

    def __init__(self, method: str, route: str) -> None:
        self.method = method
        self.route = route
        self.active = _active(route)
        self.started = perf_counter()


def begin(method: str, path: str, routes: frozenset[str]) -> InFlight:
    request = InFlight(method_label(method), route_label(path, routes))
    request.active.inc()
    return request


def end(request: InFlight, status: int) -> None:
    _duration(request.method, request.route, status).observe(perf_counter() - request.started)
    request.active.dec()
