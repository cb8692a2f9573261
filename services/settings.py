"""Knobs every row reads from the environment, with their documented defaults.

See docs/configuration.md for the table. The settings shared by every row
(host, ports, backlog, latency URL, instrumentation) are read here; the
server's own knobs (workers, threads, loop, ...) are declared by its module in
services/servers and validated the same way. The serve command resolves them
once and exports the resolved values, so the app, the instrumentation and the
server hooks all see the same numbers; every other way of starting a row
(native stack, matrix, tests) builds its environment with ``launch_env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.peers import PEERS_BY_NAME, peers_for
from services.rows import LATENCY_SERVICE_PORT, Row, get_row
from services.servers import ServerKind, SettingsError, get_server

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_HOST",
    "DatabaseSettings",
    "RowSettings",
    "SettingsError",
    "current_settings",
    "database_settings",
    "launch_env",
    "load_settings",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_BACKLOG = 2048
# The native stack's own PostgreSQL (bench/postgres.py): trust auth on
# 127.0.0.1 only, a throwaway cluster. BENCH_DATABASE_URL points elsewhere.
DEFAULT_DATABASE_PORT = 5455
DEFAULT_DATABASE_URL = f"postgresql://bench@127.0.0.1:{DEFAULT_DATABASE_PORT}/bench"
DEFAULT_DB_POOL = 10  # connections per pool (per worker process)
# A request waits at most this long for a pooled connection, then gets a 503.
DEFAULT_DB_WAIT_MS = 10_000
# Bounds every statement: above the longest /db/sleep (60 s) plus headroom.
DEFAULT_DB_STATEMENT_TIMEOUT_MS = 65_000
DB_DRIVERS = ("asyncpg", "psycopg")  # async rows only; sync rows always use psycopg
OWN_MODES = ("on", "off")  # BENCH_INSTRUMENTATION besides the peers' names
DEFAULT_MULTIPROC_ROOT = "/tmp/sab-metrics"  # noqa: S108 - per-row subdirectory, wiped at start
# Set by sab-serve itself; a stale one in the caller's environment must not leak
# into a server that does not use it.
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _int_env(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the row's database is and how its pool behaves (docs/database.md)."""

    url: str
    pool: int
    wait_ms: int
    statement_timeout_ms: int
    driver: str  # the async rows' driver: asyncpg or psycopg

    def exported_env(self, *, is_async: bool) -> dict[str, str]:
        env = {
            "BENCH_DATABASE_URL": self.url,
            "BENCH_DB_POOL": str(self.pool),
            "BENCH_DB_WAIT_MS": str(self.wait_ms),
            "BENCH_DB_STATEMENT_TIMEOUT_MS": str(self.statement_timeout_ms),
        }
        if is_async:  # a WSGI row has no driver to choose
            env["BENCH_DB_DRIVER"] = self.driver
        return env


def database_settings(env: Mapping[str, str]) -> DatabaseSettings:
    """The BENCH_DATABASE_URL and BENCH_DB_* knobs of ``env``, validated."""
    driver = env.get("BENCH_DB_DRIVER", "").strip().lower() or DB_DRIVERS[0]
    if driver not in DB_DRIVERS:
        raise SettingsError(f"BENCH_DB_DRIVER={driver!r} must be 'asyncpg' or 'psycopg'")
    return DatabaseSettings(
        url=env.get("BENCH_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
        pool=_int_env(env, "BENCH_DB_POOL", DEFAULT_DB_POOL),
        wait_ms=_int_env(env, "BENCH_DB_WAIT_MS", DEFAULT_DB_WAIT_MS),
        statement_timeout_ms=_int_env(
            env, "BENCH_DB_STATEMENT_TIMEOUT_MS", DEFAULT_DB_STATEMENT_TIMEOUT_MS
        ),
        driver=driver,
    )


@dataclass(frozen=True)
class RowSettings:
    """A row plus the resolved knobs it runs with."""

    row: Row
    host: str
    port: int
    metrics_port: int
    backlog: int
    latency_url: str
    multiproc_dir: Path
    # "on" (ours), "off" (the bare app) or a peer library's name
    # (services/peers): what wraps the app.
    instrumentation: str
    database: DatabaseSettings
    # The server's knobs for this row, validated: BENCH_WORKERS -> "2".
    knobs: Mapping[str, str]

    @property
    def instrumented(self) -> bool:
        """Whether our own instrumentation runs (not bare, not a peer library)."""
        return self.instrumentation == "on"

    @property
    def peer(self) -> str | None:
        """The peer library instrumenting the row instead of ours, if any."""
        return None if self.instrumentation in OWN_MODES else self.instrumentation

    @property
    def server(self) -> ServerKind:
        return get_server(self.row.server)

    def knob(self, setting: str) -> str:
        """The resolved value of one of the server's knobs, e.g. BENCH_LOOP."""
        return self.knobs[setting]

    def count(self, setting: str) -> int:
        """A numeric knob, e.g. BENCH_WORKERS."""
        return int(self.knobs[setting])

    @property
    def workers(self) -> int:
        """Worker processes serving requests."""
        return self.server.processes(self)

    @property
    def slots_per_worker(self) -> int | None:
        """Requests one worker can run at once; None where it is not bounded."""
        return self.server.slots_per_worker(self)

    @property
    def total_slots(self) -> int | None:
        per_worker = self.slots_per_worker
        return None if per_worker is None else per_worker * self.workers

    @property
    def effective_threads(self) -> int:
        """Threads per worker as the service-info label reports them."""
        return self.server.threads(self)

    def exported_env(self) -> dict[str, str]:
        """Resolved BENCH_* values, exported to the server process and its workers."""
        return {
            "BENCH_SERVICE": self.row.name,
            "BENCH_HOST": self.host,
            "BENCH_PORT": str(self.port),
            "BENCH_METRICS_PORT": str(self.metrics_port),
            "BENCH_BACKLOG": str(self.backlog),
            "BENCH_LATENCY_URL": self.latency_url,
            "BENCH_INSTRUMENTATION": self.instrumentation,
            **self.database.exported_env(is_async=self.row.is_async),
            **self.knobs,
        }

    def environment(self) -> dict[str, str]:
        """Everything the row's server needs in its environment: BENCH_* plus the server's."""
        return {**self.exported_env(), **self.server.environment(self)}


def _server_knobs(row: Row, env: Mapping[str, str]) -> dict[str, str]:
    defaults = dict(row.knob_defaults)
    values = {}
    for knob in get_server(row.server).knobs(row.worker_class):
        raw = env.get(knob.setting, "").strip() or defaults.get(knob.setting, knob.default)
        values[knob.setting] = knob.parse(knob.setting, raw)
    return values


def _instrumentation(row: Row, env: Mapping[str, str]) -> str:
    value = env.get("BENCH_INSTRUMENTATION", "on").strip().lower()
    if value in OWN_MODES:
        return value
    spec = PEERS_BY_NAME.get(value)
    if spec is None or not spec.applies_to(row.framework):
        choices = [*OWN_MODES, *(peer.name for peer in peers_for(row.framework))]
        raise SettingsError(
            f"BENCH_INSTRUMENTATION={value!r} on {row.name} must be one of "
            + ", ".join(repr(choice) for choice in choices)
        )
    return value


def load_settings(row_name: str, env: Mapping[str, str] | None = None) -> RowSettings:
    """Resolve the knobs of ``row_name`` from ``env`` (default: os.environ)."""
    env = os.environ if env is None else env
    row = get_row(row_name)
    port = _int_env(env, "BENCH_PORT", row.port)
    instrumentation = _instrumentation(row, env)
    return RowSettings(
        row=row,
        host=env.get("BENCH_HOST", DEFAULT_HOST),
        port=port,
        metrics_port=_int_env(env, "BENCH_METRICS_PORT", port + 1000),
        backlog=_int_env(env, "BENCH_BACKLOG", DEFAULT_BACKLOG),
        latency_url=env.get("BENCH_LATENCY_URL", f"http://127.0.0.1:{LATENCY_SERVICE_PORT}"),
        multiproc_dir=Path(
            env.get(MULTIPROC_VARIABLE, f"{DEFAULT_MULTIPROC_ROOT}/{row.name}-{port}")
        ),
        instrumentation=instrumentation,
        database=database_settings(env),
        knobs=_server_knobs(row, env),
    )


def launch_env(row_name: str, settings: Mapping[str, str]) -> dict[str, str]:
    """The environment that starts ``sab-serve ROW`` with ``settings`` (BENCH_* and
    PROMETHEUS_MULTIPROC_DIR), validated and resolved as the row will read it.

    The one builder of a row's environment: sab-serve, the native stack, the
    matrix and the tests all use it (compose's is checked against it). A
    setting the row does not use (BENCH_THREADS on a uvicorn row) is dropped.
    """
    return load_settings(row_name, settings).environment()


def current_settings() -> RowSettings:
    """Settings of the row this process serves (set by the serve command)."""
    name = os.environ.get("BENCH_SERVICE")
    if not name:
        raise SettingsError("BENCH_SERVICE is not set: start rows with `sab-serve ROW`")
    return load_settings(name)
