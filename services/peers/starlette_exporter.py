"""starlette-exporter, as its README sets it up: the middleware plus handle_metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from fastapi import FastAPI
from starlette_exporter import PrometheusMiddleware, handle_metrics

from services.peers.base import PEER_METRICS_PATH, Peer

if TYPE_CHECKING:
    from services.instrumentation.asgi import ASGIApp
    from services.settings import RowSettings


class StarletteExporter(Peer):
    def instrument_asgi(self, app: ASGIApp, settings: RowSettings) -> ASGIApp:
        fastapi_app = cast(FastAPI, app)
        fastapi_app.add_middleware(PrometheusMiddleware)
        fastapi_app.add_route(PEER_METRICS_PATH, handle_metrics, include_in_schema=False)
        return app


PEER = StarletteExporter()
