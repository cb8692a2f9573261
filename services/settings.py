"""Knobs every row reads from the environment, with their documented defaults.

See docs/configuration.md for the table. The serve command resolves them once
and exports the resolved values, so the app, the instrumentation and the
gunicorn hooks all see the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.rows import LATENCY_SERVICE_PORT, Row, get_row

DEFAULT_HOST = "127.0.0.1"
DEFAULT_WORKERS = 1
DEFAULT_THREADS = 4
DEFAULT_WORKER_CONNECTIONS = 100
DEFAULT_BACKLOG = 2048
DEFAULT_MULTIPROC_ROOT = "/tmp/sab-metrics"  # noqa: S108 - per-row subdirectory, wiped at start


class SettingsError(ValueError):
    """An environment knob with a value the row cannot use."""


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
class RowSettings:
    """A row plus the resolved knobs it runs with."""

    row: Row
    host: str
    port: int
    metrics_port: int
    workers: int
    threads: int
    worker_connections: int
    backlog: int
    latency_url: str
    multiproc_dir: Path
    instrumented: bool

    @property
    def slots_per_worker(self) -> int | None:
        """Requests one worker can run at once; None where it is not bounded (ASGI)."""
        match self.row.worker_class:
            case "sync":
                return 1
            case "gthread":
                return self.threads
            case "gevent":
                return self.worker_connections
            case _:
                return None

    @property
    def total_slots(self) -> int | None:
        per_worker = self.slots_per_worker
        return None if per_worker is None else per_worker * self.workers

    @property
    def effective_threads(self) -> int:
        """Threads per worker as the service-info label reports them."""
        return self.threads if self.row.worker_class == "gthread" else 1

    def exported_env(self) -> dict[str, str]:
        """Resolved values, exported to the server process and its workers."""
        return {
            "BENCH_SERVICE": self.row.name,
            "BENCH_HOST": self.host,
            "BENCH_PORT": str(self.port),
            "BENCH_METRICS_PORT": str(self.metrics_port),
            "BENCH_WORKERS": str(self.workers),
            "BENCH_THREADS": str(self.threads),
            "BENCH_WORKER_CONNECTIONS": str(self.worker_connections),
            "BENCH_BACKLOG": str(self.backlog),
            "BENCH_LATENCY_URL": self.latency_url,
            "BENCH_INSTRUMENTATION": "on" if self.instrumented else "off",
        }


def load_settings(row_name: str, env: Mapping[str, str] | None = None) -> RowSettings:
    """Resolve the knobs of ``row_name`` from ``env`` (default: os.environ)."""
    env = os.environ if env is None else env
    row = get_row(row_name)
    port = _int_env(env, "BENCH_PORT", row.port)
    instrumentation = env.get("BENCH_INSTRUMENTATION", "on").strip().lower()
    if instrumentation not in {"on", "off"}:
        raise SettingsError(f"BENCH_INSTRUMENTATION={instrumentation!r} must be 'on' or 'off'")
    return RowSettings(
        row=row,
        host=env.get("BENCH_HOST", DEFAULT_HOST),
        port=port,
        metrics_port=_int_env(env, "BENCH_METRICS_PORT", port + 1000),
        workers=_int_env(env, "BENCH_WORKERS", DEFAULT_WORKERS),
        threads=_int_env(env, "BENCH_THREADS", DEFAULT_THREADS),
        worker_connections=_int_env(env, "BENCH_WORKER_CONNECTIONS", DEFAULT_WORKER_CONNECTIONS),
        backlog=_int_env(env, "BENCH_BACKLOG", DEFAULT_BACKLOG),
        latency_url=env.get("BENCH_LATENCY_URL", f"http://127.0.0.1:{LATENCY_SERVICE_PORT}"),
        multiproc_dir=Path(
            env.get("PROMETHEUS_MULTIPROC_DIR", f"{DEFAULT_MULTIPROC_ROOT}/{row.name}-{port}")
        ),
        instrumented=instrumentation == "on",
    )


def current_settings() -> RowSettings:
    """Settings of the row this process serves (set by the serve command)."""
    name = os.environ.get("BENCH_SERVICE")
    if not name:
        raise SettingsError("BENCH_SERVICE is not set: start rows with `sab-serve ROW`")
    return load_settings(name)
