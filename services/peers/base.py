"""What a peer module implements: where it wraps each kind of app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from services.instrumentation.asgi import ASGIApp
    from services.settings import RowSettings

# Every peer serves its library's metrics here, on the row's own port: where
# each library's documentation puts them (its /metrics route on the app).
PEER_METRICS_PATH = "/metrics"


class Peer:
    """One library's instrumentation; each method defaults to "nothing to do here".

    FastAPI rows call ``instrument_asgi`` with the FastAPI app, Flask rows
    ``instrument_wsgi`` with the Flask app. Django's libraries plug into
    Django itself, so the Django entry points call ``prepare_django`` before
    Django builds its handler, and the URL sets add ``django_urlpatterns``.
    """

    def instrument_asgi(self, app: ASGIApp, settings: RowSettings) -> ASGIApp:
        return app

    def instrument_wsgi(self, app: WSGIApplication, settings: RowSettings) -> WSGIApplication:
        return app

    def prepare_django(self, settings: RowSettings) -> None:
        return

    def django_urlpatterns(self) -> list[Any]:
        return []
