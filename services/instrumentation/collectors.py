"""Values the metrics server process reads at scrape time, outside the workers."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Iterator
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

# struct tcp_info up to tcpi_unacked: eight __u8 fields, then __u32 rto, ato,
# snd_mss, rcv_mss, unacked (linux/tcp.h).
_TCP_INFO_TO_UNACKED = struct.Struct("8B5I")


def _socket_fds() -> Iterator[int]:
    for link in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # closed since the listing
            if str(link.readlink()).startswith("socket:"):
                yield int(link.name)


def _accept_queue(fd: int, port: int) -> int:
    """The accept-queue length of ``fd`` if it is a TCP socket listening on ``port``, else 0."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return 0
    with sock:  # closes the duplicate only
        try:
            if (
                sock.family not in (socket.AF_INET, socket.AF_INET6)
                or sock.type != socket.SOCK_STREAM
                or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                or sock.getsockname()[1] != port
            ):
                return 0
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_TO_UNACKED.size)
        except OSError:
            return 0
    waiting: int = _TCP_INFO_TO_UNACKED.unpack(info)[-1]
    return waiting


def listen_backlog(port: int) -> int:
    """Connections in the accept queue of this process's socket(s) listening on ``port``.

    For a listening socket, TCP_INFO reports the accept-queue length
    (sk_ack_backlog) as tcpi_unacked. The process serving /metrics holds the
    listening socket (gunicorn's master, or uvicorn's one process), so it
    reads its own. /proc/net/tcp shows the same figure, but reading it walks
    the kernel's whole socket table: 9 ms of CPU per scrape on this VM.
    """
    return sum(_accept_queue(fd, port) for fd in _socket_fds())


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
                str(self.settings.workers),
                str(self.settings.effective_threads),
            ],
            1.0,
        )
        yield info
