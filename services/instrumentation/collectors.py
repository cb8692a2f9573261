"""Values the metrics server process reads at scrape time, outside the workers."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import struct
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
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


def _socket_fds(pid: int | str = "self") -> Iterator[int]:
    for link in Path(f"/proc/{pid}/fd").iterdir():
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


_LIBC = ctypes.CDLL(None, use_errno=True)
_SYS_PIDFD_GETFD = 438  # the same number on every architecture (Linux >= 5.6)


def _borrowed_accept_queue(pidfd: int, fd: int, port: int) -> int:
    """_accept_queue of another process's ``fd``, through a copy taken with pidfd_getfd."""
    copy = _LIBC.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
    if copy < 0:
        error = ctypes.get_errno()
        if error == errno.EBADF:  # closed since the listing
            return 0
        raise OSError(error, f"pidfd_getfd: {os.strerror(error)}")
    try:
        return _accept_queue(copy, port)
    finally:
        os.close(copy)


_TCP_LISTEN = "0A"  # st in /proc/net/tcp (include/net/tcp_states.h)


def _proc_net_backlog(port: int) -> int:
    """Sum of rx_queue over LISTEN sockets on ``port`` in /proc/net/tcp{,6} (the slow way)."""
    total = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), Path(table).open() as lines:
            next(lines)  # header
            for line in lines:
                fields = line.split()
                local, state, queues = fields[1], fields[3], fields[4]
                if state == _TCP_LISTEN and int(local.rpartition(":")[2], 16) == port:
                    total += int(queues.partition(":")[2], 16)
    return total


def _copied_backlog(port: int, worker_pids: list[int]) -> int:
    total = 0
    for pid in worker_pids:
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):  # exited meanwhile
            pidfd = os.pidfd_open(pid)
            try:
                total += sum(_borrowed_accept_queue(pidfd, fd, port) for fd in _socket_fds(pid))
            finally:
                os.close(pidfd)
    return total


class WorkersListenBacklog:
    """listen_backlog for servers whose workers each open their own socket (Granian).

    The parent copies each worker's socket descriptors with pidfd_getfd (it
    may: they are its children) and asks TCP_INFO of the copies. Where the
    kernel or a container's seccomp profile refuses that call, it says so
    once and reads /proc/net/tcp from then on: the same figure, at more CPU.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.copying = True

    def read(self, worker_pids: list[int]) -> int:
        if self.copying:
            try:
                return _copied_backlog(self.port, worker_pids)
            except OSError as error:
                self.copying = False
                print(
                    f"[metrics] {error}: bench_listen_backlog reads /proc/net/tcp from now on",
                    file=sys.stderr,
                    flush=True,
                )
        return _proc_net_backlog(self.port)


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
        self.workers_backlog = (
            WorkersListenBacklog(settings.port) if settings.server.listeners_in_workers else None
        )

    def _listen_backlog(self) -> int:
        if self.workers_backlog is not None:
            return self.workers_backlog.read([child.pid for child in self.cpu.root.children()])
        return listen_backlog(self.settings.port)

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(*LISTEN_BACKLOG, value=self._listen_backlog())
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


class RelayedExporter(Collector):
    """Another exporter's series, served with ours: a server's own metrics (Granian's).

    Fetched at scrape time from 127.0.0.1; if it does not answer in time its
    series are missing from that scrape, and ours are still served.
    """

    def __init__(self, port: int, timeout_s: float = 0.5) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.timeout_s = timeout_s

    def collect(self) -> Iterator[Metric]:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as response:  # noqa: S310 - our own loopback URL
                text = response.read().decode()
        except OSError:
            return
        yield from text_string_to_metric_families(text)
