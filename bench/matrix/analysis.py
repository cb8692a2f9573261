"""From every step's figures to what the report states: levels, limits, knees, warnings."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.matrix.figures import StepFigures
from bench.matrix.workloads import WORKLOADS, get_workload

# Thresholds for naming what limited a row, and for the honesty warnings.
BUSY = 0.9  # of the slots, threads or cores: full
WELL_USED = 0.7  # past the knee, queueing sets in before a resource is quite full
BACKLOG_QUEUE = 10  # connections in the listen queue: the server does not accept fast enough
LOOP_BLOCKED_MS = 50.0
MIN_CPU_S_PER_REQUEST = 1e-5  # event-loop lag p99 that means requests wait for the loop
K6_FULL_CORE = 0.9
LOW_SERVER_CPU = 0.5
NOISY_SPREAD = 0.10
# k6's p99 above the row's own by this share of the SLO (and by the row's own
# p99), with no queue the row measures: the time went outside the app.
OUTSIDE_GAP_OF_SLO = 0.2
UNCLEAR = "unclear"
NOT_REACHED = "not reached"  # no level past the knee: the search hit a bound first


@dataclass(frozen=True)
class Level:
    """One offered rate of one row x workload, over its repeats (medians)."""

    offered_rps: float
    repeats: int
    throughput_rps: float
    spread: float | None  # (max - min) / median throughput; None for one repeat
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    server_mean_ms: float | None
    server_p99_ms: float | None
    cpu_cores: float | None
    cpu_ms_per_request: float | None
    saturation: float | None
    backlog_max: float | None
    loop_lag_p99_ms: float | None
    threadpool_busy_mean: float | None
    threadpool_size: float | None
    k6_cpu_cores: float
    dropped_iterations: int
    error_ratio: float
    saturated: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Combo:
    """One row x workload: its predicted limits, its levels and what they show."""

    row: str
    workload: str
    service_time_ms: float | None  # server-side mean at one request at a time
    cpu_ms_per_request: float | None  # slope of the CPU line (see predict)
    idle_cpu_cores: float | None  # its intercept
    slots: float | None  # requests it can serve at once, where that is bounded
    slots_basis: str
    littles_law_rps: float | None  # slots / service time
    cpu_limit_rps: float | None  # service cores / CPU per request
    predicted_knee_rps: float | None
    levels: tuple[Level, ...]
    knee_offered_rps: float | None  # the highest offered rate within the SLO
    max_sustainable_rps: float | None  # what the row served there
    p99_at_sustainable_ms: float | None
    cpu_ms_at_sustainable: float | None
    max_throughput_rps: float | None  # the measured knee: the most it served
    knee_ratio: float | None  # measured / predicted knee
    delivered_at_knee: float | None  # served / offered at the highest level within the SLO
    limited_by: str
    evidence: str


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _level(offered: float, steps: list[StepFigures]) -> Level:
    throughputs = [s.throughput_rps for s in steps]
    middle = statistics.median(throughputs)
    spread = (max(throughputs) - min(throughputs)) / middle if len(steps) > 1 and middle else None
    saturated = [s for s in steps if s.saturated]

    def median_of(pick: Callable[[StepFigures], float | None]) -> float | None:
        return _median(pick(s) for s in steps)

    return Level(
        offered_rps=offered,
        repeats=len(steps),
        throughput_rps=middle,
        spread=spread,
        p50_ms=median_of(lambda s: s.p50_ms),
        p95_ms=median_of(lambda s: s.p95_ms),
        p99_ms=median_of(lambda s: s.p99_ms),
        server_mean_ms=median_of(lambda s: s.server_mean_ms),
        server_p99_ms=median_of(lambda s: s.server_p99_ms),
        cpu_cores=median_of(lambda s: s.cpu_cores),
        cpu_ms_per_request=median_of(lambda s: s.cpu_ms_per_request),
        saturation=median_of(lambda s: s.saturation),
        backlog_max=median_of(lambda s: s.backlog_max),
        loop_lag_p99_ms=median_of(lambda s: s.loop_lag_p99_ms),
        threadpool_busy_mean=median_of(lambda s: s.threadpool_busy_mean),
        threadpool_size=median_of(lambda s: s.threadpool_size),
        k6_cpu_cores=statistics.median(s.k6_cpu_cores for s in steps),
        dropped_iterations=max(s.dropped_iterations for s in steps),
        error_ratio=statistics.median(s.error_ratio for s in steps),
        # A level is past the knee when most of its repeats were.
        saturated=2 * len(saturated) > len(steps),
        reasons=tuple(dict.fromkeys(r for s in saturated for r in s.reasons)),
    )


def _slots(workload: str, probe: StepFigures) -> tuple[float | None, str]:
    """How many requests the row can serve at once on this workload, and why."""
    if probe.slots:
        return probe.slots, "worker slots (bench_worker_slots)"
    if workload == "io-blocking":
        loops = probe.workers or 1
        return float(loops), f"{loops} event loop(s), each blocked by time.sleep"
    if workload == "io-thread" and probe.threadpool_size:
        return probe.threadpool_size, "AnyIO thread-pool tokens"
    return None, "not bounded (event loop)"


def latency_outside_app(observed: Level, slo_ms: float, service_cores: int) -> float | None:
    """How far k6's p99 exceeds the row's own (ms), when no queue the row measures explains it.

    The row's histogram starts when a request reaches the app. Waiting in the
    accept queue, for a worker, a thread, the CPU or the event loop is not in
    it, so those are ruled out first: no connection ever seen waiting to be
    accepted, slots and threads under 70% busy, and an event loop that was
    never late (ASGI) or a CPU under 70% busy (WSGI). What is left happened
    outside the app: in the server around it (parsing, writing, its own
    threads and the GIL), the kernel, or the load generator. The harness
    cannot tell which; the warning says where to look.
    """
    if observed.p99_ms is None or observed.server_p99_ms is None:
        return None
    gap = observed.p99_ms - observed.server_p99_ms
    if gap < max(OUTSIDE_GAP_OF_SLO * slo_ms, observed.server_p99_ms):
        return None
    threads = (
        (observed.threadpool_busy_mean or 0.0) / observed.threadpool_size
        if observed.threadpool_size
        else None
    )
    cpu = observed.cpu_cores / service_cores if observed.cpu_cores is not None else None
    if observed.loop_lag_p99_ms is not None:
        cpu_wait = observed.loop_lag_p99_ms >= OUTSIDE_GAP_OF_SLO * slo_ms or (cpu or 0.0) >= BUSY
    else:
        cpu_wait = (cpu or 0.0) >= WELL_USED
    queued = (
        cpu_wait
        or any(share is not None and share >= WELL_USED for share in (observed.saturation, threads))
        or (observed.backlog_max or 0.0) >= 1
    )
    return None if queued else gap


def _limited_by(level: Level, service_cores: int) -> tuple[str, str]:
    """What stopped the row at ``level`` (its first level past the knee), with the figure.

    The most used of CPU, worker slots and thread pool when one is well used;
    else a late event loop (time.sleep in async def: nothing is busy, the loop is stuck).
    """
    used: list[tuple[float, str, str]] = []
    if level.cpu_cores is not None:
        share = level.cpu_cores / service_cores
        used.append((share, "CPU", f"{level.cpu_cores:.2f} of {service_cores} core(s) busy"))
    if level.saturation is not None:
        used.append((level.saturation, "worker slots", f"{level.saturation:.0%} of the slots busy"))
    if level.threadpool_busy_mean and level.threadpool_size:
        share = level.threadpool_busy_mean / level.threadpool_size
        threads = f"{share:.0%} of {level.threadpool_size:g} threads busy"
        used.append((share, "thread pool", threads))
    share, resource, evidence = max(used, default=(0.0, "", ""))
    if share >= WELL_USED:
        return resource, evidence
    if level.backlog_max is not None and level.backlog_max >= BACKLOG_QUEUE:
        waiting = f"up to {level.backlog_max:.0f} connections waiting to be accepted"
        return "accept queue", f"{waiting}, {share:.0%} of the busiest resource used"
    if level.loop_lag_p99_ms is not None and level.loop_lag_p99_ms >= LOOP_BLOCKED_MS:
        return "blocked event loop", f"event-loop lag p99 {level.loop_lag_p99_ms:.0f} ms"
    if level.k6_cpu_cores >= K6_FULL_CORE:
        return "load generator", f"k6 used {level.k6_cpu_cores:.2f} cores"
    return UNCLEAR, "; ".join(level.reasons)


@dataclass(frozen=True)
class Prediction:
    """Where the row should saturate, from measurements below its knee."""

    knee_rps: float | None
    slots: float | None
    slots_basis: str
    littles_law_rps: float | None  # slots / service time
    cpu_limit_rps: float | None  # utilisation law: (cores - idle) / CPU per request
    cpu_ms_per_request: float | None
    idle_cpu_cores: float | None


def cpu_line(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares of CPU cores against requests/s: (idle cores, CPU seconds per request)."""
    usable = [(x, y) for x, y in points if x > 0]
    if len(usable) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in usable)
    mean_y = statistics.fmean(y for _, y in usable)
    spread = sum((x - mean_x) ** 2 for x, _ in usable)
    if spread <= 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in usable) / spread
    # Below 10 µs per request the line says nothing (the CPU did not move with the load).
    return (mean_y - slope * mean_x, slope) if slope > MIN_CPU_S_PER_REQUEST else None


def service_time_ms(probe: StepFigures, within: list[StepFigures]) -> float | None:
    """The row's service time: the median server-side mean of the steps within the SLO.

    The probe's own figure is the fallback: it includes the row's first
    requests, which on some rows (Django) are much slower than the rest.
    """
    measured = [s.server_mean_ms for s in within if s.server_mean_ms]
    return statistics.median(measured) if measured else probe.server_mean_ms


def predict(
    workload: str, probe: StepFigures, within: list[StepFigures], service_cores: int
) -> Prediction:
    """Little's law from the service time; the utilisation law from a CPU line.

    The line runs through the probe and every step within the SLO (CPU cores
    against requests/s): its slope is the CPU per request, its intercept what
    the row burns idle. With the probe alone, the CPU per request is taken
    gross (idle included): a conservative first aim.
    """
    slots, basis = _slots(workload, probe)
    service_ms = service_time_ms(probe, within)
    service_s = service_ms / 1000.0 if service_ms else None
    littles = slots / service_s if slots and service_s else None
    points = [
        (s.server_rps, s.cpu_cores)
        for s in (probe, *within)
        if s.server_rps is not None and s.cpu_cores is not None
    ]
    line = cpu_line(points)
    idle, per_request_s = line if line else (0.0, None)
    if per_request_s is None and probe.cpu_ms_per_request:
        per_request_s = probe.cpu_ms_per_request / 1000.0
    cpu_limit = (service_cores - max(0.0, idle)) / per_request_s if per_request_s else None
    limits = [limit for limit in (littles, cpu_limit) if limit and limit > 0]
    return Prediction(
        knee_rps=min(limits) if limits else None,
        slots=slots,
        slots_basis=basis,
        littles_law_rps=littles,
        cpu_limit_rps=cpu_limit,
        cpu_ms_per_request=per_request_s * 1000.0 if per_request_s else None,
        idle_cpu_cores=idle if line else None,
    )


def combo(row: str, workload: str, steps: list[StepFigures], service_cores: int) -> Combo | None:
    probes = [s for s in steps if s.kind == "probe" and not s.partial]
    loads = [s for s in steps if s.kind == "load" and not s.partial and s.offered_rps]
    if not probes:
        return None
    probe = probes[0]
    by_rate: dict[float, list[StepFigures]] = defaultdict(list)
    for step in loads:
        assert step.offered_rps is not None
        by_rate[round(step.offered_rps, 3)].append(step)
    levels = tuple(_level(rate, by_rate[rate]) for rate in sorted(by_rate))
    within = [level for level in levels if not level.saturated]
    past = [level for level in levels if level.saturated]
    best = max(within, key=lambda level: level.offered_rps) if within else None
    within_steps = [s for s in loads if not s.saturated]
    prediction = predict(workload, probe, within_steps, service_cores)
    knee = prediction.knee_rps
    max_throughput = max((level.throughput_rps for level in levels), default=None)
    limited_by, evidence = (
        _limited_by(past[0], service_cores) if past else (NOT_REACHED, "no level saturated")
    )
    return Combo(
        row=row,
        workload=workload,
        service_time_ms=service_time_ms(probe, within_steps),
        cpu_ms_per_request=prediction.cpu_ms_per_request,
        idle_cpu_cores=prediction.idle_cpu_cores,
        slots=prediction.slots,
        slots_basis=prediction.slots_basis,
        littles_law_rps=prediction.littles_law_rps,
        cpu_limit_rps=prediction.cpu_limit_rps,
        predicted_knee_rps=knee,
        levels=levels,
        knee_offered_rps=best.offered_rps if best else None,
        max_sustainable_rps=best.throughput_rps if best else None,
        p99_at_sustainable_ms=best.p99_ms if best else None,
        cpu_ms_at_sustainable=best.cpu_ms_per_request if best else None,
        max_throughput_rps=max_throughput,
        knee_ratio=max_throughput / knee if max_throughput and knee else None,
        delivered_at_knee=best.throughput_rps / best.offered_rps if best else None,
        limited_by=limited_by,
        evidence=evidence,
    )


def combos(steps: list[StepFigures], service_cores: int) -> list[Combo]:
    grouped: dict[tuple[str, str], list[StepFigures]] = defaultdict(list)
    for step in steps:
        grouped[(step.row, step.workload)].append(step)
    found = (
        combo(row, workload, group, service_cores) for (row, workload), group in grouped.items()
    )
    return sorted((c for c in found if c is not None), key=lambda c: (c.workload, c.row))


def warnings(
    steps: list[StepFigures], all_combos: list[Combo], repeats: int, service_cores: int
) -> list[str]:
    """What a careful reader must know before trusting the figures."""
    found: list[str] = []
    for step in steps:
        where = f"{step.row} {step.workload} at {step.offered_rps or 'probe'} rps (step {step.id})"
        if step.k6_cpu_cores >= K6_FULL_CORE:
            found.append(
                f"load generator near a full core: k6 used {step.k6_cpu_cores:.2f} cores "
                f"during {where}; figures at that rate may show k6's limit, not the row's"
            )
        server_idle = step.cpu_cores is not None and step.cpu_cores < LOW_SERVER_CPU * service_cores
        queue_full = (
            any(
                value is not None and value >= BUSY
                for value in (
                    step.saturation,
                    (step.threadpool_busy_mean or 0) / step.threadpool_size
                    if step.threadpool_size
                    else None,
                )
            )
            or (step.loop_lag_p99_ms or 0) >= LOOP_BLOCKED_MS
        )
        if step.dropped_iterations and server_idle and not queue_full and step.kind == "load":
            found.append(
                f"dropped iterations at low server CPU: {step.dropped_iterations} during {where} "
                f"with the row at {step.cpu_cores:.2f} cores and no full queue: "
                "the load generator may have been the bottleneck"
            )
    for c in all_combos:
        slo_ms = get_workload(c.workload).slo_p99_ms
        outside = {
            level.offered_rps: gap
            for level in c.levels
            if (gap := latency_outside_app(level, slo_ms, service_cores)) is not None
        }
        if outside:
            rates = ", ".join(f"{rate:g}" for rate in outside)
            found.append(
                f"latency outside the app: {c.row} {c.workload} at {rates} rps, k6's p99 up to "
                f"{max(outside.values()):.0f} ms above the row's own, with no queue the row "
                "measures: the time went to the server around the app, the kernel or the load "
                "generator (the harness cannot tell which)"
            )
        for level in c.levels:
            if level.spread is not None and level.spread > NOISY_SPREAD and not level.saturated:
                found.append(
                    f"noisy: {c.row} {c.workload} at {level.offered_rps:g} rps, throughput "
                    f"spread {level.spread:.0%} over {level.repeats} repeats"
                )
    if repeats < 2:
        found.append("one repeat per level: run-to-run noise was not measured (use --profile full)")
    return found


def combos_by_workload(all_combos: list[Combo]) -> dict[str, list[Combo]]:
    """Combos grouped per workload, in the order WORKLOADS lists them."""
    order = [workload.name for workload in WORKLOADS]
    grouped: dict[str, list[Combo]] = {name: [] for name in order}
    for c in all_combos:
        grouped[c.workload].append(c)
    return {name: group for name, group in grouped.items() if group}
