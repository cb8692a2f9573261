"""The service matrix: one entry per row, the single source of names and ports.

Everything that needs to know the rows (the serve command, the native stack,
compose validation, Prometheus targets, k6 targets, the benchmark matrix and
the tests) reads them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Interface = Literal["wsgi", "asgi"]
Server = Literal["gunicorn", "uvicorn"]
WorkerClass = Literal["sync", "gthread", "gevent", "uvicorn", "uvicorn-worker"]

LATENCY_SERVICE_PORT = 8099
METRICS_PORT_OFFSET = 1000


@dataclass(frozen=True)
class Row:
    """One framework x server combination of the matrix."""

    name: str
    framework: Literal["flask", "fastapi", "django"]
    interface: Interface
    server: Server
    worker_class: WorkerClass
    app: str  # import path of the WSGI/ASGI callable, "module:attribute"
    port: int

    @property
    def metrics_port(self) -> int:
        """Port of the row's /metrics endpoint (served outside the workers)."""
        return self.port + METRICS_PORT_OFFSET

    @property
    def is_async(self) -> bool:
        return self.interface == "asgi"

    @property
    def seed_path(self) -> str:
        """The seed demo's own endpoint: /sync on sync rows, /async on async rows."""
        return "/async" if self.is_async else "/sync"

    @property
    def bounded_slots(self) -> bool:
        """Whether the row has a fixed number of request slots (bench_worker_slots)."""
        return self.interface == "wsgi"


ROWS: tuple[Row, ...] = (
    Row("flask-sync", "flask", "wsgi", "gunicorn", "sync", "services.flask_app.wsgi:app", 8001),
    Row(
        "flask-threads", "flask", "wsgi", "gunicorn", "gthread", "services.flask_app.wsgi:app", 8002
    ),
    Row("flask-gevent", "flask", "wsgi", "gunicorn", "gevent", "services.flask_app.wsgi:app", 8003),
    Row(
        "fastapi-async",
        "fastapi",
        "asgi",
        "uvicorn",
        "uvicorn",
        "services.fastapi_app.asgi:app",
        8004,
    ),
    Row(
        "fastapi-gunicorn",
        "fastapi",
        "asgi",
        "gunicorn",
        "uvicorn-worker",
        "services.fastapi_app.asgi:app",
        8005,
    ),
    Row("django-wsgi", "django", "wsgi", "gunicorn", "sync", "services.django_app.wsgi:app", 8006),
    Row(
        "django-asgi", "django", "asgi", "uvicorn", "uvicorn", "services.django_app.asgi:app", 8007
    ),
)

ROWS_BY_NAME: dict[str, Row] = {row.name: row for row in ROWS}


class UnknownRowError(ValueError):
    """A row name that is not in the matrix."""

    def __init__(self, name: str) -> None:
        valid = ", ".join(ROWS_BY_NAME)
        super().__init__(f"unknown row {name!r}; valid rows: {valid}")


def get_row(name: str) -> Row:
    """Return the row called ``name`` or raise an error listing the valid ones."""
    try:
        return ROWS_BY_NAME[name]
    except KeyError:
        raise UnknownRowError(name) from None
