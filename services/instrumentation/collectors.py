"""Values the metrics server process reads at scrape time, outside the workers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.instrumentation.metrics import (
    ACTIVE_REQUESTS_NAME,
    LISTEN_BACKLOG,
    PROCESS_CPU,
    SERVICE_INFO,
    SERVICE_INFO_LABELS,
    WORKER_BUSY,
)
from services.settings import RowSettings

PROC_NET_TCP = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
TCP_LISTEN = "0A"


def listen_backlog(port: int, tables: Iterable[Path] = PROC_NET_TCP) -> int:
    """Connections in the accept queue of the socket(s) listening on ``port``.

    For a LISTEN socket the kernel reports the current accept-queue length
    (sk_ack_backlog) in the rx_queue column of /proc/net/tcp.
    """
    waiting = 0
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if state == TCP_LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                waiting += int(queues.split(":")[1], 16)
    return waiting


class ProcessTreeCpu:
    """CPU seconds of a process and its descendants, monotonic across worker restarts."""

    def __init__(self, root_pid: int) -> None:
        self.root = psutil.Process(root_pid)
        self._last_seen: dict[int, float] = {}
        self._exited_total = 0.0

    def total_seconds(self) -> float:
        current: dict[int, float] = {}
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            current[process.pid] = times.user + times.system
        for pid, seconds in self._last_seen.items():
            if pid not in current:
                self._exited_total += seconds  # what an exited worker used, as last seen
        self._last_seen = current
        return self._exited_total + sum(current.values())


def active_requests_total(source: Collector) -> float:
    """Sum of http_server_active_requests over routes, as ``source`` exports it."""
    return sum(
        sample.value
        for family in source.collect()
        if family.name == ACTIVE_REQUESTS_NAME
        for sample in family.samples
    )


class ServerCollector(Collector):
    """Scrape-time values: backlog, busy, CPU seconds and service info."""

    def __init__(self, settings: RowSettings, root_pid: int, requests_source: Collector) -> None:
        self.settings = settings
        self.cpu = ProcessTreeCpu(root_pid)
        self.requests_source = requests_source

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(*LISTEN_BACKLOG, value=listen_backlog(self.settings.port))
        yield GaugeMetricFamily(*WORKER_BUSY, value=active_requests_total(self.requests_source))
        yield CounterMetricFamily(*PROCESS_CPU, value=self.cpu.total_seconds())
        info = GaugeMetricFamily(*SERVICE_INFO, labels=SERVICE_INFO_LABELS)
        row = self.settings.row
        info.add_metric(
            [
                row.name,
                row.framework,
                row.interface,
                row.server,
                row.worker_class,
                str(self.settings.workers if row.server == "gunicorn" else 1),
                str(self.settings.effective_threads),
            ],
            1.0,
        )
        yield info
