"""django-prometheus, as its README sets it up: the app, the before/after middleware
pair around everything else, and its URLs (GET /metrics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.urls import include, path

from services.peers.base import Peer

if TYPE_CHECKING:
    from services.settings import RowSettings

_MIDDLEWARE = "django_prometheus.middleware"


class DjangoPrometheus(Peer):
    def prepare_django(self, settings: RowSettings) -> None:
        django_settings.INSTALLED_APPS = [*django_settings.INSTALLED_APPS, "django_prometheus"]
        django_settings.MIDDLEWARE = [
            f"{_MIDDLEWARE}.PrometheusBeforeMiddleware",
            *django_settings.MIDDLEWARE,
            f"{_MIDDLEWARE}.PrometheusAfterMiddleware",
        ]

    def django_urlpatterns(self) -> list[Any]:
        # django_prometheus.urls routes "metrics": PEER_METRICS_PATH, at the root.
        return [path("", include("django_prometheus.urls"))]


PEER = DjangoPrometheus()
