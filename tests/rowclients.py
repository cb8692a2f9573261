"""In-process clients for every row: the frameworks' own test clients.

Their /db/* endpoints talk to the suite's PostgreSQL (tests/database.py): a
test that calls them asks for the ``database_url`` fixture, which starts it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "services.django_app.settings")

import django
from django.db import connections
from django.test import Client
from django.test.utils import override_settings
from fastapi.testclient import TestClient

from services.django_app import views
from services.fastapi_app.app import create_app as create_fastapi_app
from services.flask_app.app import create_app as create_flask_app
from services.rows import Row
from services.settings import RowSettings, load_settings
from tests.database import TEST_DATABASE_URL

# Django reads its DATABASES once per process, when it is set up.
_DATABASE_ENV = {"BENCH_DATABASE_URL": TEST_DATABASE_URL}


def _settings(row: Row) -> RowSettings:
    return load_settings(row.name, _DATABASE_ENV)


def _setup_django() -> None:
    saved = os.environ.get("BENCH_DATABASE_URL")
    os.environ["BENCH_DATABASE_URL"] = TEST_DATABASE_URL
    try:
        django.setup()
    finally:
        if saved is None:
            del os.environ["BENCH_DATABASE_URL"]
        else:
            os.environ["BENCH_DATABASE_URL"] = saved


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class RowClient(Protocol):
    def get(self, path: str) -> Answer: ...

    def post(self, path: str) -> Answer: ...


class _FlaskClient:
    def __init__(self, row: Row) -> None:
        self.app = create_flask_app(_settings(row))
        self.client = self.app.test_client()

    def get(self, path: str) -> Answer:
        response = self.client.get(path)
        return Answer(response.status_code, response.get_json())

    def post(self, path: str) -> Answer:
        response = self.client.post(path)
        return Answer(response.status_code, response.get_json())


class _JsonClient:
    """Adapts a client whose responses have .status_code and .json() (Starlette, Django)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, path: str) -> Answer:
        response = self.client.get(path)
        return Answer(response.status_code, response.json())

    def post(self, path: str) -> Answer:
        response = self.client.post(path)
        return Answer(response.status_code, response.json())


@contextmanager
def row_client(row: Row) -> Iterator[RowClient]:
    """A test client for ``row``'s app, in this process, without a server."""
    if row.framework == "flask":
        flask_client = _FlaskClient(row)
        try:
            yield flask_client
        finally:
            flask_client.app.extensions["bench_database"].close()
    elif row.framework == "fastapi":
        # The app's lifespan closes its pools.
        with TestClient(create_fastapi_app(_settings(row))) as client:
            yield _JsonClient(client)
    else:
        _setup_django()
        views.configure(_settings(row))
        urlconf = f"services.django_app.urls_{row.interface}"
        try:
            with override_settings(ROOT_URLCONF=urlconf):
                yield _JsonClient(Client(raise_request_exception=False))
        finally:
            for connection in connections.all(initialized_only=True):
                connection.close_pool()
