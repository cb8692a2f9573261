"""The service matrix: one entry per row, the single source of names and ports.

Everything that needs to know the rows (the serve command, the native stack,
compose validation, Prometheus targets, k6 targets, the benchmark matrix and
the tests) reads them from here. What a row's server does (its command, knobs,
slots, metrics) is its server module's business (services/servers); a row only
names it. A new row is one entry here plus one compose block and its doc line
(tests/test_registry.py names anything missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.servers import get_server

Interface = Literal["wsgi", "asgi"]

LATENCY_SERVICE_PORT = 8099
METRICS_PORT_OFFSET = 1000


@dataclass(frozen=True)
class Row:
    """One framework x server combination of the matrix."""

    name: str
    framework: Literal["flask", "fastapi", "django"]
    interface: Interface
    server: str  # a key of services.servers.SERVERS
    worker_class: str  # one of that server's worker_classes
    app: str  # import path of the WSGI/ASGI callable, "module:attribute"
    port: int
    # Server knob defaults this row changes, e.g. (("BENCH_LOOP", "asyncio"),).
    knob_defaults: tuple[tuple[str, str], ...] = ()

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
        return get_server(self.server).has_slots(self.worker_class)


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
    Row(
        "fastapi-gunicorn-asgi",
        "fastapi",
        "asgi",
        "gunicorn",
        "asgi",
        "services.fastapi_app.asgi:app",
        8008,
    ),
    Row(
        "fastapi-asyncio",
        "fastapi",
        "asgi",
        "uvicorn",
        "uvicorn",
        "services.fastapi_app.asgi:app",
        8009,
        knob_defaults=(("BENCH_LOOP", "asyncio"),),
    ),
    Row(
        "fastapi-granian",
        "fastapi",
        "asgi",
        "granian",
        "asgi",
        "services.fastapi_app.asgi:app",
        8010,
    ),
    Row("flask-granian", "flask", "wsgi", "granian", "wsgi", "services.flask_app.wsgi:app", 8011),
)

ROWS_BY_NAME: dict[str, Row] = {row.name: row for row in ROWS}


def _check(rows: tuple[Row, ...]) -> None:
    """Fail at import on a row whose server, worker class or knob defaults do not exist."""
    for row in rows:
        server = get_server(row.server)
        if row.worker_class not in server.worker_classes:
            raise ValueError(
                f"row {row.name}: {row.server} has no worker class {row.worker_class!r} "
                f"(it has: {', '.join(server.worker_classes)})"
            )
        settings = {knob.setting for knob in server.knobs(row.worker_class)}
        for setting, _ in row.knob_defaults:
            if setting not in settings:
                raise ValueError(f"row {row.name}: {setting} is not a knob of its server")
    ports = [port for row in rows for port in (row.port, row.metrics_port)]
    if len(set(ports)) != len(ports) or len({row.name for row in rows}) != len(rows):
        raise ValueError("two rows share a name or a port")


_check(ROWS)


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
