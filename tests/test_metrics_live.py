"""The metric contract against real multi-worker gunicorn and real uvicorn."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from bench.procs import free_port, multiproc_dir, running_row
from services.instrumentation.recording import FLUSH_INTERVAL_S
from services.rows import ROWS, Row
from services.settings import load_settings
from tests.concurrent_requests import fire_together
from tests.scrape import Scrape, scrape

pytestmark = pytest.mark.live

DURATION_COUNT = "http_server_request_duration_seconds_count"
ROW_IDS = [row.name for row in ROWS]
ASGI_ONLY = {
    "bench_event_loop_lag_seconds_count",
    "bench_threadpool_busy",
    "bench_threadpool_size",
    "bench_threadpool_waiting",
}


def settle() -> None:
    """Give the workers' metric flushers time to publish what they recorded."""
    time.sleep(3 * FLUSH_INTERVAL_S)


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def wait_until_inside(metrics_url: str, route: str, requests: int) -> None:
    """Wait until ``requests`` requests to ``route`` are inside the app."""
    wait_for(
        lambda: scrape(metrics_url).value("http_server_active_requests", route=route) == requests
    )


@contextmanager
def in_background(url: str, count: int) -> Iterator[None]:
    """``count`` concurrent GETs to ``url`` running while the block executes."""
    thread = threading.Thread(target=fire_together, args=(url, count), daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=60)


def test_request_count_is_exact_across_four_workers(tmp_path: Path) -> None:
    requests = 60
    with running_row("flask-sync", tmp_path, workers=4) as server:

        def one(_: int) -> int:
            return httpx.get(f"{server.base_url}/io?ms=20", timeout=10).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(one, range(requests)))
        settle()
        metrics = scrape(server.metrics_url)
        workers = psutil.Process(server.process.pid).children()
    assert statuses == [200] * requests
    assert len(workers) == 4
    assert metrics.value(DURATION_COUNT, route="/io", status="200", method="GET") == requests
    assert metrics.value(DURATION_COUNT) == requests  # nothing else was counted, not /health


def test_active_busy_and_backlog_while_workers_sleep(tmp_path: Path) -> None:
    with running_row("flask-sync", tmp_path, workers=4) as server:
        # K=3 below the slots: all three are inside the app.
        with in_background(f"{server.base_url}/io?ms=2500", 3):
            wait_for(lambda: scrape(server.metrics_url).value("bench_worker_busy") == 3)
            during = scrape(server.metrics_url)
        assert during.value("http_server_active_requests", route="/io") == 3
        assert during.value("bench_worker_slots") == 4
        # K=6 above the slots: 4 inside, 2 waiting in the kernel's accept queue,
        # and /metrics still answers fast because the master serves it.
        with in_background(f"{server.base_url}/io?ms=2500", 6):
            wait_for(lambda: scrape(server.metrics_url).value("bench_worker_busy") == 4)
            started = time.perf_counter()
            saturated = scrape(server.metrics_url, timeout_s=1.0)
            scrape_seconds = time.perf_counter() - started
        assert scrape_seconds < 1.0
        assert saturated.value("http_server_active_requests", route="/io") == 4
        assert saturated.value("bench_listen_backlog") >= 1
        wait_for(lambda: scrape(server.metrics_url).value("bench_worker_busy") == 0, 20)
        after = scrape(server.metrics_url)
    assert after.value("http_server_active_requests") == 0
    assert after.value("bench_listen_backlog") == 0
    assert after.value(DURATION_COUNT, route="/io") == 9


def test_one_sync_worker_queues_the_rest_in_the_kernel(tmp_path: Path) -> None:
    with running_row("flask-sync", tmp_path, workers=1) as server:
        with in_background(f"{server.base_url}/io?ms=2500", 4):
            wait_for(lambda: scrape(server.metrics_url).value("bench_listen_backlog") == 3)
            wait_for(lambda: scrape(server.metrics_url).value("bench_worker_busy") == 1)
            metrics = scrape(server.metrics_url)
        assert metrics.value("bench_listen_backlog") == 3
        assert metrics.value("bench_worker_slots") == 1


def test_a_blocked_event_loop_queues_new_connections_in_the_kernel(tmp_path: Path) -> None:
    """uvicorn alone: its own process holds the listening socket and serves /metrics."""
    with running_row("fastapi-async", tmp_path) as server:
        with in_background(f"{server.base_url}/io/blocking?ms=4000", 1):
            wait_until_inside(server.metrics_url, "/io/blocking", 1)
            with in_background(f"{server.base_url}/hello", 3):
                wait_for(lambda: scrape(server.metrics_url).value("bench_listen_backlog") == 3)
        wait_for(lambda: scrape(server.metrics_url).value("bench_listen_backlog") == 0)


def test_dead_worker_leaves_the_live_gauges(tmp_path: Path) -> None:
    with running_row("flask-threads", tmp_path, workers=2, threads=3) as server:
        httpx.get(f"{server.base_url}/hello", timeout=5)
        settle()  # the worker's flusher publishes the request before we kill it
        assert scrape(server.metrics_url).value("bench_worker_slots") == 6
        master = psutil.Process(server.process.pid)
        victim = master.children()[0]
        os.kill(victim.pid, signal.SIGKILL)

        def respawned() -> bool:
            pids = {child.pid for child in master.children()}
            return len(pids) == 2 and victim.pid not in pids

        wait_for(respawned)
        wait_for(lambda: scrape(server.metrics_url).value("bench_worker_slots") == 6)
        metrics = scrape(server.metrics_url)
    # Counters of the dead worker stay (its requests happened); its gauges do not.
    assert metrics.value(DURATION_COUNT, route="/hello") == 1


def test_stale_files_are_wiped_at_start(tmp_path: Path) -> None:
    port = free_port()
    with running_row("flask-sync", tmp_path, keep_metrics_files=True, port=port) as server:
        for _ in range(5):
            httpx.get(f"{server.base_url}/hello", timeout=5)
        settle()
        assert scrape(server.metrics_url).value(DURATION_COUNT) == 5
    assert any(multiproc_dir(tmp_path, "flask-sync", port).iterdir())  # files left behind
    with running_row("flask-sync", tmp_path, port=port) as server:
        assert scrape(server.metrics_url).value(DURATION_COUNT) == 0


def test_a_file_a_worker_is_still_creating_does_not_fail_the_scrape(tmp_path: Path) -> None:
    """prometheus-client creates a worker's file, then sizes it: /metrics may see it empty."""
    port = free_port()
    with running_row("flask-sync", tmp_path, port=port) as server:
        httpx.get(f"{server.base_url}/hello", timeout=5)
        settle()
        (multiproc_dir(tmp_path, "flask-sync", port) / "gauge_livesum_999999.db").touch()
        assert scrape(server.metrics_url).value(DURATION_COUNT) == 1


def test_event_loop_lag_records_the_blocked_time(tmp_path: Path) -> None:
    with running_row("fastapi-async", tmp_path) as server:
        before = scrape(server.metrics_url)
        assert httpx.get(f"{server.base_url}/io/blocking?ms=500", timeout=10).status_code == 200
        time.sleep(0.3)
        after = scrape(server.metrics_url)
    lag = "bench_event_loop_lag_seconds"
    late = (after.value(f"{lag}_count") - after.value(f"{lag}_bucket", le="0.25")) - (
        before.value(f"{lag}_count") - before.value(f"{lag}_bucket", le="0.25")
    )
    assert late >= 1, "no probe woke more than 0.25 s late"
    assert after.value(f"{lag}_sum") - before.value(f"{lag}_sum") >= 0.4


def test_threadpool_busy_counts_io_thread_in_flight(tmp_path: Path) -> None:
    with running_row("fastapi-async", tmp_path) as server:
        idle = scrape(server.metrics_url)
        with in_background(f"{server.base_url}/io/thread?ms=2000", 3):
            wait_for(lambda: scrape(server.metrics_url).value("bench_threadpool_busy") == 3)
            during = scrape(server.metrics_url)
        wait_for(lambda: scrape(server.metrics_url).value("bench_threadpool_busy") == 0)
    assert idle.value("bench_threadpool_busy") == 0
    assert during.value("bench_threadpool_size") == 40  # AnyIO's default limiter
    assert during.value("http_server_active_requests", route="/io/thread") == 3


def test_gunicorn_event_loops_export_through_the_master(tmp_path: Path) -> None:
    with running_row("fastapi-gunicorn", tmp_path, workers=2) as server:
        httpx.get(f"{server.base_url}/hello", timeout=5)
        wait_for(lambda: scrape(server.metrics_url).value("bench_threadpool_size") == 80)
        settle()
        metrics = scrape(server.metrics_url)
    assert metrics.value("bench_event_loop_lag_seconds_count") > 0
    assert metrics.value(DURATION_COUNT, route="/hello") == 1
    assert "bench_worker_slots" not in metrics.names()


def test_cpu_seconds_grow_with_cpu_work(tmp_path: Path) -> None:
    with running_row("flask-sync", tmp_path, workers=2) as server:
        before = scrape(server.metrics_url).value("bench_process_cpu_seconds_total")
        for _ in range(4):
            httpx.get(f"{server.base_url}/cpu?n=1000000", timeout=30)
        after = scrape(server.metrics_url).value("bench_process_cpu_seconds_total")
    assert after - before >= 0.2


# Two workers where the server has them, three threads where it has threads:
# the expected labels and metric families come from the row's server module.
INFO_KNOBS = {"workers": 2, "threads": 3}


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_service_info_and_which_metrics_each_row_exports(row: Row, tmp_path: Path) -> None:
    settings = load_settings(row.name, {"BENCH_WORKERS": "2", "BENCH_THREADS": "3"})
    with running_row(row.name, tmp_path, extra_knobs=INFO_KNOBS) as server:
        httpx.get(f"{server.base_url}/hello", timeout=5)
        httpx.get(f"{server.base_url}/health", timeout=5)
        httpx.get(f"{server.base_url}/no/such/path/42", timeout=5)
        if row.is_async:
            # Every worker's probe has published its first samples.
            wait_for(lambda: scrape(server.metrics_url).names() >= ASGI_ONLY)
        time.sleep(0.3)
        metrics: Scrape = scrape(server.metrics_url)
    [info] = metrics.labels_of("bench_service_info")
    assert info["service"] == row.name
    assert (info["server"], info["worker_class"]) == (row.server, row.worker_class)
    assert (info["workers"], info["threads"]) == (
        str(settings.workers),
        str(settings.effective_threads),
    )
    routes = {labels["route"] for labels in metrics.labels_of(DURATION_COUNT)}
    assert routes == {"/hello", "unmatched"}  # never a raw path, never /health
    if row.is_async:
        assert metrics.names() >= ASGI_ONLY
    else:
        assert not ASGI_ONLY & metrics.names()
    if row.bounded_slots:
        assert metrics.value("bench_worker_slots") == settings.total_slots
    else:
        assert "bench_worker_slots" not in metrics.names()


HELLOS = 25


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_counts_exact_and_busy_returns_to_zero(row: Row, tmp_path: Path) -> None:
    """Every row: exact request counts, busy/active while requests run, 0 after."""
    settings = load_settings(row.name, {"BENCH_WORKERS": "2"})
    concurrent = min(3, settings.total_slots or 3)
    with running_row(row.name, tmp_path, workers=2) as server:
        for _ in range(HELLOS):
            assert httpx.get(f"{server.base_url}/hello", timeout=10).status_code == 200
        wait_for(lambda: scrape(server.metrics_url).value(DURATION_COUNT, route="/hello") == HELLOS)
        with in_background(f"{server.base_url}/io?ms=2500", concurrent):
            wait_for(lambda: scrape(server.metrics_url).value("bench_worker_busy") == concurrent)
            during = scrape(server.metrics_url)
        wait_for(lambda: scrape(server.metrics_url).value("bench_worker_busy") == 0, 20)
        after = scrape(server.metrics_url)
    assert during.value("http_server_active_requests", route="/io") == concurrent
    assert after.value("http_server_active_requests") == 0
    assert after.value(DURATION_COUNT, route="/io") == concurrent
    assert after.value(DURATION_COUNT, route="/hello") == HELLOS


ASYNC_ROWS = [row for row in ROWS if row.is_async]


@pytest.mark.parametrize("row", ASYNC_ROWS, ids=[row.name for row in ASYNC_ROWS])
def test_metrics_answer_while_the_event_loop_is_blocked(row: Row, tmp_path: Path) -> None:
    """time.sleep inside async def blocks the one loop; /metrics is served outside it."""
    with (
        running_row(row.name, tmp_path, workers=1) as server,
        in_background(f"{server.base_url}/io/blocking?ms=3000", 1),
    ):
        wait_for(
            lambda: (
                scrape(server.metrics_url).value(
                    "http_server_active_requests", route="/io/blocking"
                )
                == 1
            )
        )
        # Answered within the timeout while the loop sleeps for 3 s.
        blocked = scrape(server.metrics_url, timeout_s=1.0)
    assert blocked.value("bench_worker_busy") == 1


@pytest.mark.parametrize("row", ASYNC_ROWS, ids=[row.name for row in ASYNC_ROWS])
def test_hello_names_the_event_loop_the_row_runs(row: Row, tmp_path: Path) -> None:
    """The loop in /hello is the running loop's; the knob decides it where there is one."""
    # Where the server has no loop knob (uvicorn-worker) it picks uvloop, installed.
    expected = load_settings(row.name, {}).knobs.get("BENCH_LOOP", "uvloop")
    with running_row(row.name, tmp_path) as server:
        body = httpx.get(f"{server.base_url}/hello", timeout=10).json()
    assert body["loop"] == expected
    assert body["service"] == row.name


def test_the_loop_knob_switches_the_loop(tmp_path: Path) -> None:
    with running_row("fastapi-async", tmp_path, loop="asyncio") as server:
        assert httpx.get(f"{server.base_url}/hello", timeout=10).json()["loop"] == "asyncio"
    with running_row("fastapi-asyncio", tmp_path, loop="uvloop") as server:
        assert httpx.get(f"{server.base_url}/hello", timeout=10).json()["loop"] == "uvloop"
