"""Granian: a Rust HTTP server; a main process and W worker processes.

Granian has no hooks for its main process (gunicorn has a config file), so a
row runs ``python -m services.servers.granian <granian's own options>``: this
module's ``main`` wipes the multiprocess directory, serves /metrics from this
process (aggregated from the workers' prometheus-client files, as gunicorn's
master does), then runs Granian's own command line in this same process, so
Granian's main process is ours and its workers are our children.

Two things differ from gunicorn (docs/metrics.md):

- every worker opens its own listening socket (SO_REUSEPORT), so the listen
  backlog is read from the workers' sockets (``listeners_in_workers``);
- Granian accepts connections up to its backpressure (backlog / workers) and
  queues requests for its blocking threads itself: that queue never reaches
  the listen backlog, so Granian's own exporter runs too, on a private port,
  and its ``granian_*`` series (``granian_blocking_queue`` among them) are
  served with ours.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from services.servers.base import Knob, MetricsMode, ServerKind

if TYPE_CHECKING:
    from services.settings import RowSettings

# Row.worker_class is Granian's --interface.
INTERFACES = ("asgi", "wsgi")
# Granian waits this long for a worker to stop before killing it.
KILL_TIMEOUT_S = 5
# Set by main for the spawned workers: the pid of the process that spawns them.
MAIN_PID_ENV = "SAB_GRANIAN_MAIN_PID"
# The shortest interval Granian's exporter allows; our scrape is every 1 s.
EXPORTER_INTERVAL_S = 1
# Where main() tells the metrics server the exporter's port (see main()).
EXPORTER_PORT_OPTION = "--metrics-port"
# The relayed series the harness reads (the dashboard, the matrix's wait
# between steps): requests Granian holds for a blocking thread, per worker.
QUEUE_SERIES = "granian_blocking_queue"

WORKERS = Knob("WORKERS", "BENCH_WORKERS", "1")
# Granian's default is backpressure / 2 threads per worker (1,024 with our
# backlog of 2,048): pinned to flask-threads' 4 so the two rows differ by
# server, not by pool size.
THREADS = Knob("THREADS", "BENCH_THREADS", "4")
# "auto" would take uvloop when installed; named, so /hello and the knob agree.
LOOP = Knob("LOOP", "BENCH_LOOP", "uvloop", choices=("uvloop", "asyncio"))

_KNOBS: dict[str, tuple[Knob, ...]] = {"asgi": (WORKERS, LOOP), "wsgi": (WORKERS, THREADS)}


class Granian(ServerKind):
    name: ClassVar[str] = "granian"
    worker_classes: ClassVar[tuple[str, ...]] = INTERFACES
    metrics: ClassVar[MetricsMode] = "multiprocess"
    listeners_in_workers: ClassVar[bool] = True

    def knobs(self, worker_class: str) -> tuple[Knob, ...]:
        return _KNOBS[worker_class]

    def command(self, settings: RowSettings) -> list[str]:
        interface = settings.row.worker_class
        command = [
            "python", "-m", __name__,
            "--interface", interface,
            "--host", settings.host,
            "--port", str(settings.port),
            "--backlog", str(settings.backlog),
            "--workers", settings.knob(WORKERS.setting),
            "--workers-kill-timeout", str(KILL_TIMEOUT_S),
        ]  # fmt: skip
        if settings.instrumented:
            # Its exporter gathers from every worker each interval: part of
            # the metrics' cost, so a bare row (`bench overhead`) runs without.
            command += [
                "--metrics",
                "--metrics-address", "127.0.0.1",
                "--metrics-scrape-interval", str(EXPORTER_INTERVAL_S),
            ]  # fmt: skip
        if interface == "wsgi":
            command += ["--blocking-threads", settings.knob(THREADS.setting)]
        else:
            command += ["--loop", settings.knob(LOOP.setting)]
        return [*command, settings.row.app]

    def has_slots(self, worker_class: str) -> bool:
        return worker_class == "wsgi"

    def slots_per_worker(self, settings: RowSettings) -> int | None:
        if settings.row.worker_class == "wsgi":
            return settings.count(THREADS.setting)
        return None

    def processes(self, settings: RowSettings) -> int:
        return settings.count(WORKERS.setting)

    def threads(self, settings: RowSettings) -> int:
        if settings.row.worker_class == "wsgi":
            return settings.count(THREADS.setting)
        return 1

    def app_loaded(self, settings: RowSettings) -> None:
        """In each worker, once the app is imported (Granian has no post-fork hook)."""
        # Imported here, not above: server modules are resolved while
        # services.rows is still being imported, which these modules import.
        from services.instrumentation.metrics import worker_slots  # noqa: PLC0415
        from services.instrumentation.parent_death import die_with_parent  # noqa: PLC0415
        from services.instrumentation.recording import flush  # noqa: PLC0415

        # A killed main process takes its workers with it: orphaned, they would
        # serve on (SO_REUSEPORT) beside the main process started in its place.
        if MAIN_PID_ENV in os.environ:
            die_with_parent(int(os.environ[MAIN_PID_ENV]))
        slots = self.slots_per_worker(settings)
        if slots is not None:
            worker_slots().set(slots)
        # Workers are spawned (see main), so they exit through sys.exit and
        # atexit runs: what the flusher holds is written out, as gunicorn's
        # worker_exit hook does.
        atexit.register(flush)


SERVER = Granian()


def _free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str]) -> None:
    """Serve /metrics from this process, then become Granian's main process."""
    # Imported here for the same reason as in app_loaded, and so that only
    # the launcher, not every user of the registry, imports Granian.
    from granian.cli import cli  # noqa: PLC0415

    from services.instrumentation.exposition import start_metrics_server  # noqa: PLC0415
    from services.settings import current_settings  # noqa: PLC0415

    settings = current_settings()
    os.environ[MAIN_PID_ENV] = str(os.getpid())  # the workers' parent (app_loaded)
    # Spawned, not forked: a worker must not inherit the metrics server's
    # thread and socket, and a spawned worker's exit runs atexit.
    multiprocessing.set_start_method("spawn")
    # As gunicorn's on_starting: fresh for every start, whoever writes the
    # files (ours, or a peer library under `bench overhead --peers`).
    directory = Path(settings.multiproc_dir)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    if not settings.instrumented:
        cli.main(argv, prog_name="granian")
        return
    # The exporter's port is private to this process and the one it asks
    # (the metrics server, at scrape time): a free one, picked here.
    exporter_port = _free_local_port()
    start_metrics_server(settings, relay_port=exporter_port)
    cli.main([*argv, EXPORTER_PORT_OPTION, str(exporter_port)], prog_name="granian")


if __name__ == "__main__":
    main(sys.argv[1:])
