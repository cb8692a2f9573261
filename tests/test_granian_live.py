"""What the Granian rows do differently, against real Granian servers.

Each Granian worker has its own listening socket and Granian queues requests
for its blocking threads itself; these tests pin down how the metric contract
still holds (docs/metrics.md, "Granian rows").
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from bench.matrix.steps import in_flight
from bench.procs import running_row
from services.instrumentation.collectors import _proc_net_backlog
from tests.scrape import scrape
from tests.test_metrics_live import (
    DURATION_COUNT,
    in_background,
    settle,
    wait_for,
    wait_until_inside,
)

pytestmark = pytest.mark.live


def _granian_workers(root_pid: int) -> list[psutil.Process]:
    """The processes holding one of the row's listening sockets (not multiprocessing's helpers)."""
    return [child for child in psutil.Process(root_pid).children() if child.net_connections("tcp")]


@contextmanager
def stopped(processes: list[psutil.Process]) -> Iterator[None]:
    """SIGSTOP ``processes`` for the block: nothing accepts, the kernel queues connections."""
    for process in processes:
        os.kill(process.pid, signal.SIGSTOP)
    try:
        # The signal is delivered asynchronously: a worker still running
        # would accept one of the connections the test is about to make.
        wait_for(lambda: all(p.status() == psutil.STATUS_STOPPED for p in processes))
        yield
    finally:
        for process in processes:
            os.kill(process.pid, signal.SIGCONT)


def test_the_backlog_is_read_from_every_workers_own_socket(tmp_path: Path) -> None:
    with running_row("flask-granian", tmp_path, workers=2) as server:
        port = urlsplit(server.base_url).port
        assert port is not None
        # /health answered from one worker; wait for both sockets (SO_REUSEPORT).
        wait_for(lambda: len(_granian_workers(server.process.pid)) == 2)
        workers = _granian_workers(server.process.pid)
        with stopped(workers), ExitStack() as connections:
            for _ in range(5):
                connections.enter_context(socket.create_connection(("127.0.0.1", port), 5))
            wait_for(lambda: scrape(server.metrics_url).value("bench_listen_backlog") == 5)
            # The slow way the collector falls back to gives the same figure.
            assert _proc_net_backlog(port) == 5
        wait_for(lambda: scrape(server.metrics_url).value("bench_listen_backlog") == 0)


def test_requests_beyond_the_threads_wait_inside_granian(tmp_path: Path) -> None:
    """One blocking thread: one request in the app, two in Granian's queue, none in the kernel."""
    with running_row("flask-granian", tmp_path, workers=1, threads=1) as server:
        with in_background(f"{server.base_url}/io?ms=3000", 3):
            wait_for(lambda: scrape(server.metrics_url).value("bench_worker_busy") == 1)
            # Granian's exporter refreshes every second: wait for its figure.
            wait_for(lambda: scrape(server.metrics_url).value("granian_blocking_queue") == 2)
            during = scrape(server.metrics_url)
            with httpx.Client() as client:
                # What the matrix waits on between steps counts Granian's queue too.
                assert in_flight(client, server.metrics_url) == 3
        assert during.value("bench_worker_slots") == 1
        assert during.value("bench_listen_backlog") == 0
        assert during.value("http_server_active_requests", route="/io") == 1
        wait_for(lambda: scrape(server.metrics_url).value("bench_worker_busy") == 0, 20)
        settle()
        assert scrape(server.metrics_url).value(DURATION_COUNT, route="/io") == 3


def test_slots_and_counts_add_up_across_two_workers(tmp_path: Path) -> None:
    requests = 40
    with running_row("flask-granian", tmp_path, workers=2, threads=3) as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            statuses = [client.get("/hello").status_code for _ in range(requests)]
        settle()
        metrics = scrape(server.metrics_url)
    assert statuses == [200] * requests
    assert metrics.value("bench_worker_slots") == 6  # W x T, summed over live workers
    assert metrics.value(DURATION_COUNT, route="/hello") == requests
    assert metrics.value("granian_workers_spawns_total") == 2


def test_a_blocked_event_loop_does_not_fill_the_kernel_queue(tmp_path: Path) -> None:
    """Granian accepts on its Rust threads: the waiting requests are inside Granian."""
    with (
        running_row("fastapi-granian", tmp_path) as server,
        in_background(f"{server.base_url}/io/blocking?ms=3000", 1),
    ):
        wait_until_inside(server.metrics_url, "/io/blocking", 1)
        with in_background(f"{server.base_url}/hello", 3):
            wait_for(lambda: scrape(server.metrics_url).value("granian_connections_active") >= 4)
            assert scrape(server.metrics_url).value("bench_listen_backlog") == 0


def test_the_loop_knob_reaches_granian(tmp_path: Path) -> None:
    with running_row("fastapi-granian", tmp_path, loop="asyncio") as server:
        assert httpx.get(f"{server.base_url}/hello", timeout=10).json()["loop"] == "asyncio"
