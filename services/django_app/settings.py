"""Minimal Django settings: no sessions, no middleware; PostgreSQL for /db/*.

The rows compare request handling, so nothing runs on the request path that
the benchmark does not ask for. The database comes from the same knobs as on
every row (BENCH_DATABASE_URL, BENCH_DB_*; services/settings.py), read here
once per process; nothing connects before the first /db/* request.
"""

from __future__ import annotations

import os
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from services.settings import DatabaseSettings, database_settings

# A lab service bound to 127.0.0.1 (or a private compose network); no sessions
# or signing use this key. Set DJANGO_SECRET_KEY to override.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "sync-async-bench-lab-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS: list[str] = ["services.django_app"]  # the seeded table's model
MIDDLEWARE: list[str] = []
# wsgi.py and asgi.py choose the URL set of their interface before setup.
ROOT_URLCONF = os.environ.get("BENCH_DJANGO_URLCONF", "services.django_app.urls_wsgi")


def django_databases(settings: DatabaseSettings) -> dict[str, dict[str, Any]]:
    """settings.DATABASES for ``settings``: PostgreSQL through Django's psycopg pool."""
    parts = conninfo_to_dict(settings.url)
    return {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": str(parts.get("dbname", "")),
            "USER": str(parts.get("user", "")),
            "PASSWORD": str(parts.get("password", "")),
            "HOST": str(parts.get("host", "")),
            "PORT": str(parts.get("port", "")),
            # Django's pool keeps the connections (persistent, shared by the
            # process's threads); CONN_MAX_AGE must be 0 with it.
            "CONN_MAX_AGE": 0,
            "OPTIONS": {
                "pool": {
                    "min_size": settings.pool,
                    "max_size": settings.pool,
                    "timeout": settings.wait_ms / 1000,
                    # as services/database/sync_pool.py: refill soon after an outage
                    "reconnect_timeout": 10.0,
                },
                "connect_timeout": 5,
                "options": f"-c statement_timeout={settings.statement_timeout_ms}",
            },
        }
    }


DATABASES = django_databases(database_settings(os.environ))
USE_TZ = True
USE_I18N = False
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["console"], "level": "WARNING"}},
}
