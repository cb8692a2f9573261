"""WSGI entry point: ``gunicorn services.flask_app.wsgi:app`` (via sab-serve)."""

from __future__ import annotations

from services.flask_app.app import create_app
from services.instrumentation import instrument_wsgi
from services.settings import current_settings

settings = current_settings()
app = instrument_wsgi(create_app(settings), settings)
