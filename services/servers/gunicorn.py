"""gunicorn: a master process and W worker processes of one worker class.

The master holds the listening socket and serves /metrics, aggregated from
the workers' prometheus-client multiprocess files, so it answers while every
worker is busy (hooks: services/instrumentation/gunicorn_config.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from services.servers.base import Knob, MetricsMode, ServerKind

if TYPE_CHECKING:
    from services.settings import RowSettings

CONFIG = "python:services.instrumentation.gunicorn_config"
# Longer than the largest allowed request (60 s) so a sync worker serving
# /sync?ms=60000 is never killed as "hung".
TIMEOUT_S = 90
GRACEFUL_TIMEOUT_S = 5

WORKERS = Knob("WORKERS", "BENCH_WORKERS", "1")
THREADS = Knob("THREADS", "BENCH_THREADS", "4")
# gunicorn's own default. A gevent worker counts connections, not requests:
# an idle keep-alive connection holds its greenlet, and a client beyond the
# limit waits in the accept queue while the worker idles. With 100, k6's few
# hundred keep-alive VUs capped the row at 250-550 requests/s on /io, a
# figure set by how many VUs the step had (docs/performance.md).
CONNECTIONS = Knob("CONNECTIONS", "BENCH_WORKER_CONNECTIONS", "1000")
# gunicorn's own asgi worker picks its event loop (--asgi-loop, gunicorn >= 24).
LOOP = Knob("LOOP", "BENCH_LOOP", "uvloop", choices=("uvloop", "asyncio"))

# Row.worker_class -> gunicorn's --worker-class.
WORKER_CLASS_ARGUMENTS = {
    "sync": "sync",
    "gthread": "gthread",
    "gevent": "gevent",
    "uvicorn-worker": "uvicorn_worker.UvicornWorker",
    "asgi": "asgi",
}

_KNOBS: dict[str, tuple[Knob, ...]] = {
    "sync": (WORKERS,),
    "gthread": (WORKERS, THREADS),
    "gevent": (WORKERS, CONNECTIONS),
    "uvicorn-worker": (WORKERS,),
    "asgi": (WORKERS, LOOP),
}


class Gunicorn(ServerKind):
    name: ClassVar[str] = "gunicorn"
    worker_classes: ClassVar[tuple[str, ...]] = tuple(WORKER_CLASS_ARGUMENTS)
    metrics: ClassVar[MetricsMode] = "multiprocess"

    def knobs(self, worker_class: str) -> tuple[Knob, ...]:
        return _KNOBS[worker_class]

    def command(self, settings: RowSettings) -> list[str]:
        worker_class = settings.row.worker_class
        command = [
            "gunicorn",
            "--config", CONFIG,
            "--bind", f"{settings.host}:{settings.port}",
            "--backlog", str(settings.backlog),
            "--workers", str(settings.count(WORKERS.setting)),
            "--worker-class", WORKER_CLASS_ARGUMENTS[worker_class],
            "--timeout", str(TIMEOUT_S),
            "--graceful-timeout", str(GRACEFUL_TIMEOUT_S),
        ]  # fmt: skip
        if worker_class == "gthread":
            command += ["--threads", settings.knob(THREADS.setting)]
        if worker_class == "gevent":
            command += ["--worker-connections", settings.knob(CONNECTIONS.setting)]
        if worker_class == "asgi":
            # "on", not "auto": the instrumentation starts its probes at lifespan
            # startup, and a silent fallback would hide their absence.
            lifespan = "on" if settings.instrumented else "auto"
            command += ["--asgi-loop", settings.knob(LOOP.setting), "--asgi-lifespan", lifespan]
        return [*command, settings.row.app]

    def has_slots(self, worker_class: str) -> bool:
        return worker_class in {"sync", "gthread", "gevent"}

    def slots_per_worker(self, settings: RowSettings) -> int | None:
        match settings.row.worker_class:
            case "sync":
                return 1
            case "gthread":
                return settings.count(THREADS.setting)
            case "gevent":
                return settings.count(CONNECTIONS.setting)
            case _:
                return None

    def processes(self, settings: RowSettings) -> int:
        return settings.count(WORKERS.setting)

    def threads(self, settings: RowSettings) -> int:
        if settings.row.worker_class == "gthread":
            return settings.count(THREADS.setting)
        return 1


SERVER = Gunicorn()
