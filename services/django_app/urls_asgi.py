"""URL set of django-asgi: async views, plus /io/blocking and /io/thread."""

from __future__ import annotations

from typing import cast

from django.urls import URLPattern, path

from services.django_app import views


def async_path(route: str, view: views.AsyncView) -> URLPattern:
    """path() for an async view (Django accepts them; django-stubs types only sync)."""
    return path(route, cast(views.SyncView, view))


urlpatterns = [
    async_path("health", views.health_async),
    async_path("hello", views.hello_async),
    async_path("io", views.io_async),
    async_path("async", views.io_async),
    async_path("io/blocking", views.io_blocking),
    path("io/thread", views.io_thread),
    async_path("cpu", views.cpu_async),
    async_path("downstream", views.downstream_async),
    async_path("db/sleep", views.db_sleep_async),
    async_path("db/query", views.db_query_async),
    path("db/thread/sleep", views.db_sleep),
    path("db/thread/query", views.db_query),
    *views.peer_urlpatterns(),
]

handler400 = views.bad_request
handler404 = views.not_found
handler500 = views.server_error
