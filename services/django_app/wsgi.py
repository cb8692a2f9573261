"""WSGI entry point of django-wsgi: ``gunicorn services.django_app.wsgi:app``."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "services.django_app.settings")
os.environ["BENCH_DJANGO_URLCONF"] = "services.django_app.urls_wsgi"

from django.core.wsgi import get_wsgi_application

from services.django_app.views import configure
from services.instrumentation import instrument_wsgi
from services.settings import current_settings

settings = current_settings()
configure(settings)
app = instrument_wsgi(get_wsgi_application(), settings)
