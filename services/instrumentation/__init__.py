"""Shared instrumentation for every row, at the WSGI/ASGI interface."""
