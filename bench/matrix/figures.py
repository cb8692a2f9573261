"""From one recorded step (k6 summary + Prometheus series) to its figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.loadtest.runner import SUMMARY_FILE
from bench.matrix.queries import SERIES_FILE
from bench.matrix.records import RunDataError, StepRecord
from bench.matrix.series import (
    StepSeries,
    bucket_increases,
    histogram_quantile,
    increase,
    max_between,
    mean_between,
    scrapes_within,
)
from bench.matrix.speed import unit_seconds_between
from bench.matrix.workloads import get_workload

# A step is saturated when any of these hold; the report says which.
MAX_ERROR_RATIO = 0.01
MAX_DROPPED_RATIO = 0.01  # k6 had no free VU: requests in flight far beyond the SLO
MIN_DELIVERED_RATIO = 0.95
# The kernel counts a process's CPU time in 10 ms ticks: below five of them
# in a step, CPU per request would be mostly rounding.
MIN_CPU_SECONDS = 0.05


@dataclass(frozen=True)
class StepFigures:
    id: str
    row: str
    workload: str
    kind: str
    repeat: int
    offered_rps: float | None
    partial: bool
    # What k6 saw
    throughput_rps: float  # successful responses per second of the step
    error_ratio: float
    dropped_iterations: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    k6_cpu_cores: float
    # What the row reported (Prometheus, over the step's window)
    server_requests: float | None
    server_rps: float | None
    server_mean_ms: float | None
    server_p99_ms: float | None
    cpu_cores: float | None
    cpu_ms_per_request: float | None  # all the row's CPU over the step / requests
    concurrency_mean: float | None  # requests in the app, time-averaged (Little's law)
    active_mean: float | None  # the same, sampled from the gauge at each scrape
    slots: float | None
    saturation: float | None  # concurrency / slots, WSGI rows
    backlog_max: float | None
    loop_lag_p99_ms: float | None
    threadpool_busy_mean: float | None
    threadpool_size: float | None
    threadpool_waiting_mean: float | None
    workers: int | None
    # The service cores' speed: the probe's median unit time in the step
    # (bench.matrix.speed), None without enough samples.
    speed_unit_s: float | None
    saturated: bool
    overloaded: bool  # served clearly less than offered: the row was at its capacity
    reasons: tuple[str, ...]
    # The database pool (bench_db_pool_*, summed over the workers), on the rows
    # that opened one; None before the database workloads were recorded.
    db_pool_size: float | None = None
    # Sampled from the gauge: it lags the step by up to a scrape interval.
    db_pool_in_use_mean: float | None = None
    # Exact, as the concurrency is: seconds spent waiting for a connection per second.
    db_pool_waiting_mean: float | None = None
    # The harness's own PostgreSQL, on the service cores beside the row
    # (bench.matrix.stacks): the cores it used over the step.
    database_cpu_cores: float | None = None
    # Why the step failed (bench.matrix.records.StepRecord.failure), or None.
    failure: str | None = None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _k6_metric(summary: dict[str, Any], name: str) -> dict[str, Any]:
    values: dict[str, Any] = summary.get("metrics", {}).get(name, {}).get("values", {})
    return values


def _overloaded(throughput_rps: float, offered: float | None, window_s: float) -> bool:
    # One request of slack: at a few requests per second, a step holds only a handful.
    return offered is not None and throughput_rps < MIN_DELIVERED_RATIO * offered - 1.0 / window_s


def _saturation_reasons(
    figures: dict[str, Any], offered: float | None, seconds: float, window_s: float, slo_ms: float
) -> tuple[str, ...]:
    if offered is None:
        return ()
    reasons = []
    if figures["error_ratio"] > MAX_ERROR_RATIO:
        reasons.append(f"errors {figures['error_ratio']:.1%}")
    if figures["p99_ms"] is not None and figures["p99_ms"] > slo_ms:
        reasons.append(f"p99 {figures['p99_ms']:.0f} ms > SLO {slo_ms:.0f} ms")
    if figures["dropped_iterations"] > MAX_DROPPED_RATIO * offered * seconds:
        reasons.append(f"{figures['dropped_iterations']} dropped iterations")
    if _overloaded(figures["throughput_rps"], offered, window_s):
        reasons.append(f"served {figures['throughput_rps'] / offered:.0%} of the offered rate")
    return tuple(reasons)


def _throughput(summary: dict[str, Any], step: StepRecord, answered: float) -> float:
    """Successful responses per second, in the script's steady-state window when it has one."""
    in_window = _k6_metric(summary, "served_in_window").get("count")
    if in_window is None or step.kind == "probe":
        return answered / step.seconds
    return float(in_window) / (step.seconds - step.window_start_s)


def _window(step: StepRecord, summary: dict[str, Any]) -> tuple[float, float]:
    """When k6 was sending: its test run, without its start-up (VU set-up) before it."""
    test_ms = summary.get("state", {}).get("testRunDurationMs")
    test_s = float(test_ms) / 1000.0 if test_ms else step.ended - step.started
    return max(step.started, step.ended - test_s), step.ended


def step_figures(
    step: StepRecord, run_dir: Path, speed_samples: list[tuple[float, float]] | None = None
) -> StepFigures:
    """The figures of one step; ``speed_samples`` (bench.matrix.speed) add the cores' speed."""
    step_dir = run_dir / step.directory
    summary_path = step_dir / SUMMARY_FILE
    try:
        # A step Ctrl-C cut short may have no summary: it then counts nothing.
        summary: dict[str, Any] = (
            json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        )
        series = StepSeries.load(step_dir / SERIES_FILE)
    except json.JSONDecodeError as error:
        raise RunDataError(f"step {step.id} in {step_dir}: {error}") from None
    start, end = _window(step, summary)

    requests = _k6_metric(summary, "http_reqs").get("count", 0)
    failed_ratio = float(_k6_metric(summary, "http_req_failed").get("rate", 0.0))
    duration = _k6_metric(summary, "http_req_duration")
    figures: dict[str, Any] = {
        "throughput_rps": _throughput(summary, step, requests * (1.0 - failed_ratio)),
        "error_ratio": failed_ratio,
        "dropped_iterations": int(_k6_metric(summary, "dropped_iterations").get("count", 0)),
        "mean_ms": duration.get("avg"),
        "p50_ms": duration.get("med"),
        "p95_ms": duration.get("p(95)"),
        "p99_ms": duration.get("p(99)"),
    }
    window_s = step.seconds - step.window_start_s
    reasons = _saturation_reasons(
        figures, step.offered_rps, step.seconds, window_s, get_workload(step.workload).slo_p99_ms
    )

    # Server side: between the first and the last scrape inside the step.
    cpu_points = series.total("cpu_seconds_total")
    span = scrapes_within(cpu_points, start, end)
    cpu = increase(cpu_points, span)
    served = increase(series.total("requests_total"), span)
    busy_seconds = increase(series.total("duration_seconds_sum"), span)
    per_request = served.value if served and served.value else None
    slots = mean_between(series.gauge("worker_slots"), start, end)
    # Little's law, exactly: seconds spent in requests per second = mean concurrency.
    concurrency = busy_seconds.rate if busy_seconds else None
    workers = series.gauge_labels("service_info").get("workers")
    pool_waiting = increase(series.total("db_pool_wait_seconds_sum"), span)
    duration_buckets = series.counter("duration_seconds_bucket", by="le")
    lag_buckets = series.counter("loop_lag_seconds_bucket", by="le")
    return StepFigures(
        id=step.id,
        row=step.row,
        workload=step.workload,
        kind=step.kind,
        repeat=step.repeat,
        offered_rps=step.offered_rps,
        partial=step.partial,
        k6_cpu_cores=step.k6_cpu_seconds / max(step.ended - step.started, 1e-9),
        server_requests=served.value if served else None,
        server_rps=served.rate if served else None,
        server_mean_ms=_ms(busy_seconds.value / per_request)
        if busy_seconds and per_request
        else None,
        server_p99_ms=_ms(histogram_quantile(0.99, bucket_increases(duration_buckets, span))),
        cpu_cores=cpu.rate if cpu else None,
        cpu_ms_per_request=_ms(cpu.value / per_request)
        if cpu and cpu.value >= MIN_CPU_SECONDS and per_request
        else None,
        concurrency_mean=concurrency,
        active_mean=mean_between(series.gauge("active_requests"), start, end),
        slots=slots,
        saturation=concurrency / slots if concurrency is not None and slots else None,
        backlog_max=max_between(series.gauge("listen_backlog"), start, end),
        loop_lag_p99_ms=_ms(histogram_quantile(0.99, bucket_increases(lag_buckets, span))),
        threadpool_busy_mean=mean_between(series.gauge("threadpool_busy"), start, end),
        threadpool_size=max_between(series.gauge("threadpool_size"), start, end),
        threadpool_waiting_mean=mean_between(series.gauge("threadpool_waiting"), start, end),
        workers=int(workers) if workers else None,
        speed_unit_s=unit_seconds_between(speed_samples or [], start, end),
        saturated=bool(reasons),
        overloaded=_overloaded(figures["throughput_rps"], step.offered_rps, window_s),
        reasons=reasons,
        db_pool_size=max_between(series.gauge("db_pool_size"), start, end),
        db_pool_in_use_mean=mean_between(series.gauge("db_pool_in_use"), start, end),
        db_pool_waiting_mean=pool_waiting.rate if pool_waiting else None,
        database_cpu_cores=None
        if step.database_cpu_seconds is None
        else step.database_cpu_seconds / max(step.ended - step.started, 1e-9),
        failure=step.failure,
        **figures,
    )
