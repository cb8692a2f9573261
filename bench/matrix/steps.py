"""Run one step: k6 at one offered rate against one row, then record what Prometheus saw."""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.cores import CoreSplit, share_cores
from bench.loadtest.runner import K6Run
from bench.loadtest.split import SplitResult, run_split
from bench.matrix.queries import record_series
from bench.matrix.records import STEPS_DIR, StepRecord
from bench.matrix.stacks import RowTarget, Stack, StackUnavailableError
from bench.matrix.workloads import Workload
from bench.paths import LOADTESTS_DIR
from bench.procs import tree_cpu_seconds
from bench.prometheus import PrometheusClient, PrometheusQueryError
from services.servers import granian

SCRIPT = LOADTESTS_DIR / "bench-step.js"
VU_CAP = 1000  # k6 on one core: beyond this, VU start-up itself skews the step
REQUEST_TIMEOUT_S = 10
SETTLE_TIMEOUT_S = 60.0
IDLE_TIMEOUT_S = 30.0  # Prometheus batches new targets for 5 s before the first scrape
K6_MARGIN_S = 60.0
# A freshly started row serves its first requests slowly (imports, caches):
# later rounds send it a few before their first step, bounded in count and time.
WARM_UP_REQUESTS = 5
WARM_UP_SECONDS = 0.5
# What a Prometheus that was killed or is starting again gives a query: no
# connection, a cut one, a timeout (httpx), a body that is not its JSON
# (ValueError: "Service Unavailable" while it replays its WAL), or an error.
PROMETHEUS_ERRORS = (httpx.HTTPError, ValueError, PrometheusQueryError)


@dataclass(frozen=True)
class StepPlan:
    index: int
    row: str
    workload: Workload
    kind: str  # "probe" or "load"
    repeat: int
    offered_rps: float | None
    seconds: float
    expected_latency_s: float  # sizes the VU pool: rate x latency requests in flight

    @property
    def window_start_s(self) -> float:
        """One service time into the step: from then on, responses are in the steady state."""
        return min(self.expected_latency_s, self.seconds / 2)

    @property
    def directory(self) -> str:
        rate = "probe" if self.offered_rps is None else f"{self.offered_rps:g}rps"
        return f"{STEPS_DIR}/{self.index:04d}-{self.row}-{self.workload.name}-{rate}"


def k6_env(plan: StepPlan, target: RowTarget) -> dict[str, str]:
    env = {
        "BASE_URL": target.base_url,
        "ENDPOINT": plan.workload.endpoint,
        "SERVICE": plan.row,
        "SECONDS": f"{plan.seconds:g}",
        "TIMEOUT_SECONDS": str(REQUEST_TIMEOUT_S),
        "WINDOW_START_SECONDS": f"{plan.window_start_s:.3f}",
    }
    if plan.offered_rps is None:
        return {**env, "MODE": "probe"}
    rate = plan.offered_rps
    slo_s = plan.workload.slo_p99_ms / 1000.0
    # Enough VUs for 1.5 times the SLO's worth of requests in flight: past
    # that, k6 drops iterations, and the step is past the knee anyway. All of
    # them start before the step: VUs started mid-step make k6 itself late.
    vus = min(VU_CAP, math.ceil(rate * max(slo_s, plan.expected_latency_s) * 1.5) + 10)
    return {
        **env,
        "MODE": "rate",
        "RATE": f"{rate:g}",
        "PRE_VUS": str(vus),
        "MAX_VUS": str(vus),
        # Requests started within the step may finish if they are within the SLO.
        "GRACE_SECONDS": f"{slo_s:g}",
    }


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _database_cpu_seconds(pid: int | None) -> float | None:
    """CPU so far of the PostgreSQL server ``pid`` and its backends; None without one."""
    if pid is None:
        return None
    try:
        return tree_cpu_seconds(pid)
    except psutil.Error:  # the server is gone: the step's figures say why
        return None


# What a row holds unanswered: requests inside the app, connections in the
# listen queue, and requests a server queues itself (Granian accepts up to
# its backpressure and queues them for its threads; its series is relayed
# on the row's /metrics, docs/metrics.md). Rows without one export nothing.
IN_FLIGHT_FAMILIES = frozenset(
    {"http_server_active_requests", "bench_listen_backlog", granian.QUEUE_SERIES}
)


def in_flight(client: httpx.Client, metrics_url: str) -> float:
    """Requests the row has taken or queued and not yet answered."""
    text = client.get(metrics_url, timeout=5.0).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name in IN_FLIGHT_FAMILIES:
            total += sum(sample.value for sample in family.samples)
    return total


def prometheus_failure(prometheus: PrometheusClient, error: Exception) -> str:
    return f"Prometheus at {prometheus.base_url} did not answer ({type(error).__name__}: {error})"


def idle_cpu_cores(stack: Stack, row: str, since: float, seconds: float = 1.0) -> float:
    """The row's CPU use with no load, from Prometheus' first scrapes after ``since``.

    Waiting for them also makes sure Prometheus scrapes the row before its first step.
    """
    selector = f'bench_process_cpu_seconds_total{{service="{row}"}}[30s]'
    deadline = time.monotonic() + IDLE_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            result = stack.prometheus.query(selector)
        except PROMETHEUS_ERRORS as error:
            why = prometheus_failure(stack.prometheus, error)
            raise StackUnavailableError(f"{why} while waiting for its scrapes of {row}") from None
        samples = [(float(t), float(v)) for t, v in result[0]["values"]] if result else []
        fresh = [sample for sample in samples if sample[0] > since]
        if len(fresh) >= 2 and fresh[-1][0] - fresh[0][0] >= seconds:
            (t0, v0), (t1, v1) = fresh[0], fresh[-1]
            return max(0.0, (v1 - v0) / (t1 - t0))
        time.sleep(stack.scrape_interval_s / 2)
    raise StackUnavailableError(
        f"Prometheus at {stack.prometheus.base_url} did not scrape {row} within {IDLE_TIMEOUT_S} s"
    )


def warm_up(target: RowTarget, workload: Workload) -> None:
    """A few requests of the workload, one at a time, before a fresh row's first step."""
    deadline = time.monotonic() + WARM_UP_SECONDS
    with httpx.Client(base_url=target.base_url, timeout=REQUEST_TIMEOUT_S) as client:
        for _ in range(WARM_UP_REQUESTS):
            if time.monotonic() >= deadline:
                return
            try:
                client.get(workload.endpoint)
            except httpx.HTTPError:
                return  # the step that follows records what is wrong


def settle(target: RowTarget) -> None:
    """Wait until the row has drained what the step left queued (bounded)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            try:
                if in_flight(client, target.metrics_url) == 0:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)


def run_step(
    plan: StepPlan,
    target: RowTarget,
    stack: Stack,
    *,
    run_dir: Path,
    cores: CoreSplit,
    testid: str,
    instances: int = 1,
) -> tuple[StepRecord, SplitResult]:
    step_dir = run_dir / plan.directory
    cpu_before = _children_cpu_seconds()
    database_before = _database_cpu_seconds(stack.database_pid)
    started = time.time()
    # Several instances share the load cores out among themselves.
    shares = share_cores(cores.load, instances) if cores.load and instances > 1 else None
    result = run_split(
        K6Run(
            script=SCRIPT,
            env=k6_env(plan, target),
            run_dir=step_dir,
            testid=testid,
            tags={"step": f"{plan.index:04d}"},
            cpus=cores.load,
        ),
        instances,
        timeout_s=plan.seconds + K6_MARGIN_S,
        title=f"step {plan.index:04d}, {instances} k6 instances, merged",
        cpus=shares,
    )
    ended = time.time()
    # k6 is a child we waited for: its CPU time is in RUSAGE_CHILDREN now.
    k6_cpu = _children_cpu_seconds() - cpu_before
    database_after = _database_cpu_seconds(stack.database_pid)
    if result.stopped_by != "interrupt":
        settle(target)
    failures = [result.failure] if result.failure else []
    try:
        record_series(
            stack.prometheus,
            service=plan.row,
            route=plan.workload.route,
            start=started - stack.scrape_interval_s,
            end=ended,
            resolution_s=stack.scrape_interval_s / 2,
            step_dir=step_dir,
        )
    except PROMETHEUS_ERRORS as error:
        # The step's server-side series are lost; the caller decides what follows.
        failures.append(f"{prometheus_failure(stack.prometheus, error)}: no series recorded")
    record = StepRecord(
        id=f"{plan.index:04d}",
        row=plan.row,
        workload=plan.workload.name,
        kind=plan.kind,
        repeat=plan.repeat,
        offered_rps=plan.offered_rps,
        seconds=plan.seconds,
        window_start_s=plan.window_start_s,
        started=started,
        ended=ended,
        exit_code=result.exit_code,
        stopped_by=result.stopped_by,
        k6_cpu_seconds=k6_cpu,
        directory=plan.directory,
        database_cpu_seconds=(
            None
            if database_before is None or database_after is None
            else database_after - database_before
        ),
        failure="; ".join(failures) or None,
    )
    return record, result
