"""OpenTelemetry's HTTP instrumentation with its Prometheus exporter, as its docs set it
up: a MeterProvider with a PrometheusMetricReader, the framework's instrumentor,
and prometheus-client's exposition of the reader's registry at /metrics.

No TracerProvider is configured (the docs' metrics-only setup), so spans go to
the API's no-op tracer. The reader keeps its figures in the process: it has no
multiprocess mode, so a row with several workers shows one worker's figures
per scrape (docs/performance.md says so); the cost per request is unaffected.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

from django.http import HttpRequest, HttpResponse
from django.urls import path
from fastapi import FastAPI, Request, Response
from flask import Flask
from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    generate_latest,
    make_wsgi_app,
)
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from services.peers.base import PEER_METRICS_PATH, Peer

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from services.instrumentation.asgi import ASGIApp
    from services.settings import RowSettings


@functools.cache
def _set_meter_provider() -> None:
    """Once per process: the global MeterProvider the instrumentors record into."""
    metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))


def _metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


async def _metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class OpenTelemetry(Peer):
    def instrument_asgi(self, app: ASGIApp, settings: RowSettings) -> ASGIApp:
        if settings.row.framework == "django":  # instrumented in prepare_django
            return app
        _set_meter_provider()
        fastapi_app = cast(FastAPI, app)
        FastAPIInstrumentor.instrument_app(fastapi_app)
        fastapi_app.add_route(PEER_METRICS_PATH, _metrics_endpoint, include_in_schema=False)
        return app

    def instrument_wsgi(self, app: WSGIApplication, settings: RowSettings) -> WSGIApplication:
        if settings.row.framework == "django":  # instrumented in prepare_django
            return app
        if not isinstance(app, Flask):
            raise TypeError("OpenTelemetry's Flask instrumentation needs a Flask app")
        _set_meter_provider()
        FlaskInstrumentor().instrument_app(app)  # type: ignore[no-untyped-call]
        metrics_app = make_wsgi_app(REGISTRY)
        app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, {PEER_METRICS_PATH: metrics_app}
        )
        return app

    def prepare_django(self, settings: RowSettings) -> None:
        _set_meter_provider()
        DjangoInstrumentor().instrument()

    def django_urlpatterns(self) -> list[Any]:
        return [path(PEER_METRICS_PATH.lstrip("/"), _metrics_view)]


PEER = OpenTelemetry()
