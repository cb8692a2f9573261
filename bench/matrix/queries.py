"""The Prometheus series each step records, queried by range once the step is over.

Counters are recorded as raw samples with their scrape timestamps (a range
selector), so the report takes exact differences and rates between two real
scrapes inside the step; gauges are recorded as sampled by a range query.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.atomic import write_json_atomically
from bench.prometheus import PrometheusClient

# {sel} is the row selector, {route} the workload's route template.
COUNTERS: dict[str, str] = {
    "requests_total": 'http_server_request_duration_seconds_count{{{sel},route="{route}"}}',
    "errors_total": (
        'http_server_request_duration_seconds_count{{{sel},route="{route}",status=~"5.."}}'
    ),
    "duration_seconds_sum": 'http_server_request_duration_seconds_sum{{{sel},route="{route}"}}',
    "duration_seconds_bucket": (
        'http_server_request_duration_seconds_bucket{{{sel},route="{route}"}}'
    ),
    "cpu_seconds_total": "bench_process_cpu_seconds_total{{{sel}}}",
    "loop_lag_seconds_bucket": "bench_event_loop_lag_seconds_bucket{{{sel}}}",
    "db_pool_wait_seconds_sum": "bench_db_pool_wait_seconds_sum{{{sel}}}",
}
GAUGES: dict[str, str] = {
    "active_requests": "sum(http_server_active_requests{{{sel}}})",
    "worker_busy": "sum(bench_worker_busy{{{sel}}})",
    "worker_slots": "sum(bench_worker_slots{{{sel}}})",
    "listen_backlog": "max(bench_listen_backlog{{{sel}}})",
    "threadpool_busy": "sum(bench_threadpool_busy{{{sel}}})",
    "threadpool_size": "sum(bench_threadpool_size{{{sel}}})",
    "threadpool_waiting": "sum(bench_threadpool_waiting{{{sel}}})",
    # Summed over the row's workers, like the slots: W processes x BENCH_DB_POOL.
    "db_pool_size": "sum(bench_db_pool_size{{{sel}}})",
    "db_pool_in_use": "sum(bench_db_pool_in_use{{{sel}}})",
    "service_info": "max by (workers, threads, worker_class) (bench_service_info{{{sel}}})",
}

SERIES_FILE = "series.json"


def _render(templates: dict[str, str], service: str, route: str) -> dict[str, str]:
    selector = f'service="{service}"'
    return {name: expr.format(sel=selector, route=route) for name, expr in templates.items()}


def record_series(
    prometheus: PrometheusClient,
    *,
    service: str,
    route: str,
    start: float,
    end: float,
    resolution_s: float,
    step_dir: Path,
) -> Path:
    """Query every series over [start, end] and write them, as Prometheus answered, to the step."""
    recorded: dict[str, Any] = {"start": start, "end": end, "counters": {}, "gauges": {}}
    window = f"{math.ceil(end - start)}s"
    for name, selector in _render(COUNTERS, service, route).items():
        result = prometheus.query(f"{selector}[{window}]", time=end)
        recorded["counters"][name] = {"expr": selector, "result": result}
    for name, expr in _render(GAUGES, service, route).items():
        result = prometheus.query_range(expr, start, end, resolution_s)
        recorded["gauges"][name] = {"expr": expr, "result": result}
    path = step_dir / SERIES_FILE
    write_json_atomically(path, recorded, indent=None)
    return path
