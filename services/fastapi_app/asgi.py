"""ASGI entry point: ``uvicorn services.fastapi_app.asgi:app`` (via sab-serve)."""

from __future__ import annotations

from services.fastapi_app.app import create_app
from services.instrumentation import instrument_asgi
from services.settings import current_settings

settings = current_settings()
app = instrument_asgi(create_app(settings), settings, app_handles_lifespan=True)
