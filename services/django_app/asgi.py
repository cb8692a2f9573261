"""ASGI entry point of django-asgi: ``uvicorn services.django_app.asgi:app``."""

from __future__ import annotations

import os
from typing import cast

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "services.django_app.settings")
os.environ["BENCH_DJANGO_URLCONF"] = "services.django_app.urls_asgi"

from django.core.asgi import get_asgi_application

from services.django_app.views import configure
from services.instrumentation import instrument_asgi
from services.instrumentation.asgi import ASGIApp
from services.settings import current_settings

settings = current_settings()
configure(settings)
# Django's ASGI handler rejects the lifespan scope: the middleware answers it.
django_app = cast(ASGIApp, get_asgi_application())  # typed with Mapping, same protocol
app = instrument_asgi(django_app, settings, app_handles_lifespan=False)
