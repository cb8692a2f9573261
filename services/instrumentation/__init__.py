"""Shared instrumentation for every row, at the WSGI/ASGI interface.

Row modules import only these two functions. docs/metrics.md lists the
metrics; metrics.py defines each of them once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from services.instrumentation.asgi import ASGIApp, ASGIMetricsMiddleware
from services.instrumentation.exposition import multiprocess_mode, start_metrics_server
from services.instrumentation.routes import route_labels
from services.instrumentation.wsgi import WSGIMetricsMiddleware
from services.peers import load_peer
from services.settings import RowSettings

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["instrument_asgi", "instrument_wsgi"]


def instrument_wsgi(app: WSGIApplication, settings: RowSettings) -> WSGIApplication:
    """Wrap a WSGI app with the request metrics (the bare app when instrumentation is off,
    a peer library's when one is chosen)."""
    if settings.peer is not None:
        return load_peer(settings.peer).instrument_wsgi(app, settings)
    if not settings.instrumented:
        return app
    settings.server.app_loaded(settings)
    return WSGIMetricsMiddleware(app, route_labels("wsgi"))


def instrument_asgi(app: ASGIApp, settings: RowSettings, *, app_handles_lifespan: bool) -> ASGIApp:
    """Wrap an ASGI app with request metrics, event-loop lag and thread-pool probes.

    ``app_handles_lifespan`` is False for apps that reject the lifespan scope
    (Django); the middleware then answers lifespan itself.
    """
    if settings.peer is not None:
        return load_peer(settings.peer).instrument_asgi(app, settings)
    if not settings.instrumented:
        return app
    settings.server.app_loaded(settings)
    return ASGIMetricsMiddleware(
        app,
        route_labels=route_labels("asgi"),
        app_handles_lifespan=app_handles_lifespan,
        on_startup=_single_process_metrics_server(settings),
    )


def _single_process_metrics_server(settings: RowSettings) -> Callable[[], None]:
    """An in-process server (uvicorn alone) serves /metrics here; a multiprocess one's
    parent does (gunicorn's master)."""
    started = threading.Event()

    def start_once() -> None:
        if not multiprocess_mode(settings) and not started.is_set():
            started.set()
            start_metrics_server(settings)

    return start_once
