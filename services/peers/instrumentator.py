"""prometheus-fastapi-instrumentator, as its README sets it up: instrument, then expose."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator

from services.peers.base import PEER_METRICS_PATH, Peer

if TYPE_CHECKING:
    from services.instrumentation.asgi import ASGIApp
    from services.settings import RowSettings


class FastAPIInstrumentator(Peer):
    def instrument_asgi(self, app: ASGIApp, settings: RowSettings) -> ASGIApp:
        # Its defaults: a latency histogram and a request counter per handler
        # and status class; multiprocess files when PROMETHEUS_MULTIPROC_DIR is set.
        Instrumentator().instrument(cast(FastAPI, app)).expose(
            cast(FastAPI, app), endpoint=PEER_METRICS_PATH, include_in_schema=False
        )
        return app


PEER = FastAPIInstrumentator()
