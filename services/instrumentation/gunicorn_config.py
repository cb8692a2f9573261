"""gunicorn hooks for every gunicorn row: prometheus-client's multiprocess recipe.

Loaded by ``gunicorn --config python:services.instrumentation.gunicorn_config``
(see services/serve.py). sab-serve has already put PROMETHEUS_MULTIPROC_DIR
in the environment, before anything imports prometheus_client.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

from services.instrumentation.exposition import start_metrics_server
from services.instrumentation.metrics import worker_slots
from services.instrumentation.parent_death import die_with_parent
from services.instrumentation.recording import flush
from services.settings import current_settings

_row_settings = current_settings()

# gunicorn >= 25.1 opens a control socket (for `gunicornc`) at one fixed
# path per user: rows side by side would take it from each other, and the
# image's user has no home to put it in. Nothing here uses it.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Wipe the multiprocess directory: stale files from a previous run must not count."""
    directory = Path(_row_settings.multiproc_dir)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def when_ready(server: Any) -> None:
    """The master serves /metrics, so it answers while every worker is busy."""
    start_metrics_server(_row_settings)


def post_fork(server: Any, worker: Any) -> None:
    """In the new worker: a master that is killed takes its workers with it."""
    die_with_parent(server.pid)


def post_worker_init(worker: Any) -> None:
    slots = _row_settings.slots_per_worker
    if slots is not None and _row_settings.instrumented:
        worker_slots().set(slots)


def worker_exit(server: Any, worker: Any) -> None:
    """In the exiting worker: write out what its flusher has not yet."""
    flush()


def child_exit(server: Any, worker: Any) -> None:
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
