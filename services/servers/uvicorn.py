"""uvicorn alone: one process, one event loop, /metrics served in that process.

The loop is a knob (BENCH_LOOP): uvloop, or the stock asyncio loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from services.servers.base import Knob, MetricsMode, ServerKind

if TYPE_CHECKING:
    from services.settings import RowSettings

GRACEFUL_TIMEOUT_S = 5
LOOP = Knob("LOOP", "BENCH_LOOP", "uvloop", choices=("uvloop", "asyncio"))


class Uvicorn(ServerKind):
    name: ClassVar[str] = "uvicorn"
    worker_classes: ClassVar[tuple[str, ...]] = ("uvicorn",)
    metrics: ClassVar[MetricsMode] = "in-process"

    def knobs(self, worker_class: str) -> tuple[Knob, ...]:
        return (LOOP,)

    def command(self, settings: RowSettings) -> list[str]:
        return [
            "uvicorn",
            settings.row.app,
            "--host", settings.host,
            "--port", str(settings.port),
            "--backlog", str(settings.backlog),
            "--loop", settings.knob(LOOP.setting),
            "--no-access-log",
            # The instrumentation answers lifespan (it starts the probes there);
            # a bare Django app cannot, so without it uvicorn may skip lifespan.
            "--lifespan", "on" if settings.instrumented else "auto",
            "--timeout-graceful-shutdown", str(GRACEFUL_TIMEOUT_S),
        ]  # fmt: skip

    def has_slots(self, worker_class: str) -> bool:
        return False

    def slots_per_worker(self, settings: RowSettings) -> int | None:
        return None

    def processes(self, settings: RowSettings) -> int:
        return 1


SERVER = Uvicorn()
