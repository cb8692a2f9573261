"""In-process clients for every row: the frameworks' own test clients."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "services.django_app.settings")

import django
from django.test import Client
from django.test.utils import override_settings
from fastapi.testclient import TestClient

from services.django_app import views
from services.fastapi_app.app import create_app as create_fastapi_app
from services.flask_app.app import create_app as create_flask_app
from services.rows import Row
from services.settings import load_settings


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class RowClient(Protocol):
    def get(self, path: str) -> Answer: ...

    def post(self, path: str) -> Answer: ...


class _FlaskClient:
    def __init__(self, row: Row) -> None:
        self.client = create_flask_app(load_settings(row.name, {})).test_client()

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
        yield _FlaskClient(row)
    elif row.framework == "fastapi":
        with TestClient(create_fastapi_app(load_settings(row.name, {}))) as client:
            yield _JsonClient(client)
    else:
        django.setup()
        views.configure(load_settings(row.name, {}))
        urlconf = f"services.django_app.urls_{row.interface}"
        with override_settings(ROOT_URLCONF=urlconf):
            yield _JsonClient(Client(raise_request_exception=False))
