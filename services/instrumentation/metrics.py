"""Every metric of the contract, defined once (docs/metrics.md lists them).

Unlabelled metrics write a sample as soon as they are constructed, and in
multiprocess mode that sample is exported. Metrics that only some rows
export (slots on WSGI rows; loop lag and thread pool on ASGI rows) are
therefore built on first use, so a row never exports a metric that does not
apply to it.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import Gauge, Histogram

# Boundaries just above the standard workloads (10, 50, 100, 500, 1000, 5000 ms)
# so a request of that service time plus overhead lands in its own bucket;
# 10.5 and 15.5 s resolve the seed demo's second and third users.
REQUEST_DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.011, 0.025, 0.055, 0.075, 0.11, 0.25,
    0.55, 0.75, 1.1, 2.5, 5.5, 7.5, 10.5, 15.5, 30.0, 60.0,
)  # fmt: skip
EVENT_LOOP_LAG_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Server-side duration of HTTP requests, by route template; _count counts requests.",
    ["method", "route", "status"],
    buckets=REQUEST_DURATION_BUCKETS,
)
ACTIVE_REQUESTS_NAME = "http_server_active_requests"
ACTIVE_REQUESTS = Gauge(
    ACTIVE_REQUESTS_NAME,
    "Requests inside the app right now (concurrency), by route template.",
    ["route"],
    multiprocess_mode="livesum",
)

# Collected at scrape time by the metrics server process (collectors.py), not
# stored per worker: names and help are defined here, once.
LISTEN_BACKLOG = (
    "bench_listen_backlog",
    "Connections accepted by the kernel and waiting for the server (listen queue).",
)
PROCESS_CPU = (
    "bench_process_cpu_seconds",
    "CPU seconds used by the row's server processes (master and workers).",
)
# Derived at scrape time from http_server_active_requests (their sum), which
# keeps two gauge updates off every request.
WORKER_BUSY = (
    "bench_worker_busy",
    "Request slots in use (requests inside the app); saturation = busy / slots.",
)
SERVICE_INFO = ("bench_service_info", "What this row is: framework, interface, server, knobs.")
SERVICE_INFO_LABELS = (
    "service", "framework", "interface", "server", "worker_class", "workers", "threads",
)  # fmt: skip


@cache
def worker_slots() -> Gauge:
    return Gauge(
        "bench_worker_slots",
        "Requests the row can serve at once (sync: W; gthread: W x T; gevent: W x C).",
        multiprocess_mode="livesum",
    )


@cache
def event_loop_lag() -> Histogram:
    return Histogram(
        "bench_event_loop_lag_seconds",
        "How late the event loop woke a periodic probe (ASGI rows).",
        buckets=EVENT_LOOP_LAG_BUCKETS,
    )


@cache
def threadpool_gauges() -> tuple[Gauge, Gauge, Gauge]:
    """busy, size, waiting of AnyIO's default thread limiter (ASGI rows)."""
    return (
        Gauge(
            "bench_threadpool_busy",
            "AnyIO default thread limiter: tokens borrowed (threads running sync code).",
            multiprocess_mode="livesum",
        ),
        Gauge(
            "bench_threadpool_size",
            "AnyIO default thread limiter: total tokens (thread-pool size).",
            multiprocess_mode="livesum",
        ),
        Gauge(
            "bench_threadpool_waiting",
            "AnyIO default thread limiter: tasks waiting for a token.",
            multiprocess_mode="livesum",
        ),
    )


# The rows' database pools (services/database). One set per row: a row with
# two pools (FastAPI: the async pool and /db/thread's sync pool) sums them.
DB_POOL_WAIT_BUCKETS = (
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.011, 0.025, 0.055, 0.11, 0.25,
    0.55, 1.1, 2.5, 5.5, 10.5, 30.0, 60.0,
)  # fmt: skip


@cache
def db_pool_metrics() -> tuple[Gauge, Gauge, Gauge, Histogram]:
    """size, in use, waiting, and the wait histogram of the row's database pool(s)."""
    return (
        Gauge(
            "bench_db_pool_size",
            "Connections the row's database pool(s) may hold (BENCH_DB_POOL per pool).",
            multiprocess_mode="livesum",
        ),
        Gauge(
            "bench_db_pool_in_use",
            "Pooled database connections checked out by requests right now.",
            multiprocess_mode="livesum",
        ),
        Gauge(
            "bench_db_pool_waiting",
            "Requests waiting for a pooled database connection right now.",
            multiprocess_mode="livesum",
        ),
        Histogram(
            "bench_db_pool_wait_seconds",
            "Time a request waited for a pooled database connection.",
            buckets=DB_POOL_WAIT_BUCKETS,
        ),
    )
