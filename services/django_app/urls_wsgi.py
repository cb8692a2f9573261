"""URL set of django-wsgi: sync views."""

from __future__ import annotations

from django.urls import path

from services.django_app import views

urlpatterns = [
    path("health", views.health),
    path("hello", views.hello),
    path("io", views.io_sleep),
    path("sync", views.io_sleep),
    path("cpu", views.cpu),
    path("downstream", views.downstream),
    path("db/sleep", views.db_sleep),
    path("db/query", views.db_query),
    *views.peer_urlpatterns(),
]

handler400 = views.bad_request
handler404 = views.not_found
handler500 = views.server_error
