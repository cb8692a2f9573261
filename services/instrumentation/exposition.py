"""The /metrics HTTP server, on its own port, outside the request workers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from services.instrumentation.collectors import RelayedExporter, ServerCollector
from services.instrumentation.metrics import ACTIVE_REQUESTS
from services.settings import RowSettings


class WorkerFilesCollector(MultiProcessCollector):
    """prometheus-client's MultiProcessCollector, reading a 0-byte file as empty.

    A worker creates its file and only then sizes it; a scrape in that window
    raised struct.error and failed the whole /metrics with a 500 (seen in
    CI, on a worker's first request). Upstream: prometheus/client_python
    issue 1199, open in 0.26.0; this is the read side its proposed fix takes.
    """

    def __init__(self, directory: str) -> None:
        super().__init__(None, path=directory)  # type: ignore[no-untyped-call]
        self.directory = Path(directory)

    def collect(self) -> Iterable[Metric]:
        files = []
        for path in self.directory.glob("*.db"):
            with contextlib.suppress(FileNotFoundError):  # a dead worker's, just removed
                if path.stat().st_size > 0:
                    files.append(str(path))
        metrics: Iterable[Metric] = self.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        return metrics


def multiprocess_mode(settings: RowSettings) -> bool:
    """True where workers write samples to files a parent aggregates (the row's server says)."""
    return settings.server.metrics == "multiprocess"


def start_metrics_server(settings: RowSettings, *, relay_port: int | None = None) -> None:
    """Serve /metrics on settings.metrics_port from a daemon thread of this process.

    Called in the parent of a multiprocess server (gunicorn's master:
    aggregate every worker's files) or in the single process of an in-process
    one (uvicorn: the default registry). ``relay_port``: a server's own
    exporter on 127.0.0.1 whose series are served with ours (Granian's).
    """
    requests_source: Collector
    if multiprocess_mode(settings):
        registry = CollectorRegistry()
        requests_source = WorkerFilesCollector(str(settings.multiproc_dir))
        registry.register(requests_source)
    else:
        registry = REGISTRY
        requests_source = ACTIVE_REQUESTS
    registry.register(ServerCollector(settings, os.getpid(), requests_source))
    if relay_port is not None:
        registry.register(RelayedExporter(relay_port))
    start_http_server(settings.metrics_port, addr=settings.host, registry=registry)
