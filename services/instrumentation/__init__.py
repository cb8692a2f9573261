"""Shared instrumentation for every row, at the WSGI/ASGI interface.

Public API (the only thing row modules import):

    instrument_wsgi(app, settings) -> WSGI app
    instrument_asgi(app, settings, app_handles_lifespan=...) -> ASGI app

NOTE: pass-through placeholders until the instrumentation lands in this
session; the signatures are the contract.
"""

from __future__ import annotations

from typing import Any

from services.settings import RowSettings


def instrument_wsgi(app: Any, settings: RowSettings) -> Any:
    """Wrap a WSGI app with the request metrics of the contract."""
    return app


def instrument_asgi(app: Any, settings: RowSettings, *, app_handles_lifespan: bool) -> Any:
    """Wrap an ASGI app with request metrics, event-loop lag and thread-pool probes.

    ``app_handles_lifespan`` is False for apps that reject the lifespan scope
    (Django), in which case the middleware answers lifespan itself.
    """
    return app
