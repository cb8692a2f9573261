"""Minimal Django settings: no database, no sessions, no middleware.

The rows compare request handling, so nothing runs on the request path that
the benchmark does not ask for.
"""

from __future__ import annotations

import os

# A lab service bound to 127.0.0.1 (or a private compose network); no sessions
# or signing use this key. Set DJANGO_SECRET_KEY to override.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "sync-async-bench-lab-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
# wsgi.py and asgi.py choose the URL set of their interface before setup.
ROOT_URLCONF = os.environ.get("BENCH_DJANGO_URLCONF", "services.django_app.urls_wsgi")
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
USE_I18N = False
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["console"], "level": "WARNING"}},
}
