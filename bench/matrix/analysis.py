"""From every step's figures to what the report states: levels, limits, figures, warnings."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.matrix import repeats
from bench.matrix.figures import StepFigures
from bench.matrix.stats import Estimate, estimate, pooled_log_sigma
from bench.matrix.workloads import WORKLOADS, get_workload

Sigmas = dict[str, float | None]  # figure -> pooled sigma of log(repeat); None: not measured

# Thresholds for naming what limited a row, and for the honesty warnings.
BUSY = 0.9  # of the slots, threads or cores: full
WELL_USED = 0.7  # past the knee, queueing sets in before a resource is quite full
BACKLOG_QUEUE = 10  # connections in the listen queue: the server does not accept fast enough
POOL_QUEUE = 0.5  # requests waiting for a pooled connection, on average: the pool is full
# A full pool limits the row only where it serves near what its connections
# can at the unloaded service time (Little's law); far below, it is a symptom.
POOL_REACH = 0.5
LOOP_BLOCKED_MS = 50.0
MIN_CPU_S_PER_REQUEST = 1e-5  # event-loop lag p99 that means requests wait for the loop
K6_FULL_CORE = 0.9
LOW_SERVER_CPU = 0.5
NOISY_SPREAD = 0.10
# A CPU limit is predicted from the CPU per request at the knee only when the
# row kept at least this share of its cores busy there: at a lighter load the
# idle CPU (timers, scrapes) inflates the cost of each request.
CPU_PREDICTS = 0.5
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
    throughput_low: float  # the least and the most of its repeats
    throughput_high: float
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
    overloaded: bool  # most repeats served clearly less than offered
    reasons: tuple[str, ...]
    # Defaults: runs recorded before the matrix knew the pool read back unchanged.
    slots: float | None = None  # bench_worker_slots, where the row has them
    db_pool_size: float | None = None  # connections over the row's pools
    db_pool_in_use_mean: float | None = None
    db_pool_waiting_mean: float | None = None
    database_cpu_cores: float | None = None  # our PostgreSQL's, on the service cores


@dataclass(frozen=True)
class Combo:
    """One row x workload: its levels, its figures over the rounds and what limited it."""

    row: str
    workload: str
    service_time_ms: float | None  # server-side mean within the SLO
    slots: float | None  # requests it can serve at once, where that is bounded
    slots_basis: str
    littles_law_rps: float | None  # slots / service time
    levels: tuple[Level, ...]
    # Over the rounds, the machine's speed taken out (bench.matrix.repeats).
    capacity: Estimate | None  # the primary figure: what it served at full load
    knee: Estimate | None  # the highest offered rate within the SLO
    requests_per_cpu_second: Estimate | None  # at full load
    cpu_capacity: Estimate | None  # service cores x requests per CPU-second
    knee_level_rps: float | None  # the highest level within the SLO in most of its repeats
    above_knee_rps: float | None  # the next level tried, past the SLO: the knee's resolution
    p99_at_knee_ms: float | None
    delivered_at_knee: float | None  # served / offered at the knee level
    predicted_capacity_rps: float | None  # only where it can be made (predicted_capacity)
    prediction_basis: str
    capacity_ratio: float | None  # capacity / predicted
    capacity_cpu_share: float | None  # of the service cores, at the capacity level
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
        throughput_low=min(throughputs),
        throughput_high=max(throughputs),
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
        overloaded=2 * sum(1 for s in steps if s.overloaded) > len(steps),
        reasons=tuple(dict.fromkeys(r for s in saturated for r in s.reasons)),
        slots=median_of(lambda s: s.slots),
        db_pool_size=median_of(lambda s: s.db_pool_size),
        db_pool_in_use_mean=median_of(lambda s: s.db_pool_in_use_mean),
        db_pool_waiting_mean=median_of(lambda s: s.db_pool_waiting_mean),
        database_cpu_cores=median_of(lambda s: s.database_cpu_cores),
    )


DATABASE_POOL = "database pool"


def _slots(
    workload: str, probe: StepFigures, pool_size: float | None = None
) -> tuple[float | None, str]:
    """How many requests the row can serve at once on this workload, and why.

    On the database workloads a request holds a pooled connection for most of
    its time, so the pool is a slot too: the row serves at most the smaller of
    its worker slots and its connections at once (``pool_size``, the row's
    bench_db_pool_size: BENCH_DB_POOL x its worker processes).
    """
    if get_workload(workload).needs_database and pool_size:
        if probe.slots and probe.slots <= pool_size:
            pooled = f"no more than the {pool_size:g} pooled connections"
            return probe.slots, f"worker slots (bench_worker_slots), {pooled}"
        fewer = (
            f"fewer than the {probe.slots:g} worker slots"
            if probe.slots
            else "the event loop's only bound"
        )
        pool = f"{DATABASE_POOL} ({pool_size:g} connections, bench_db_pool_size)"
        return pool_size, f"{pool}, {fewer}"
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


def _limited_by(
    level: Level, service_cores: int, pool_limit_rps: float | None = None
) -> tuple[str, str]:
    """What capped the row at ``level`` (its capacity level, else its first past the knee).

    The most used of CPU, worker slots, thread pool and database pool when one
    is well used; else a late event loop (time.sleep in async def: nothing is
    busy, the loop is stuck). ``pool_limit_rps``: Little's law with the pool
    as the slots, where the pool is the smaller.
    """
    used: list[tuple[float, str, str]] = []
    cpu_cores = _service_cores_busy(level)
    if cpu_cores is not None:
        share = cpu_cores / service_cores
        used.append((share, "CPU", _cpu_evidence(level, cpu_cores, service_cores)))
    # With no more slots than connections no request ever waits for the pool,
    # so only a smaller pool can limit the row. Then a request waiting for a
    # connection holds its slot: when the pool is well used, the busy slots
    # follow from it. A full CPU holds every connection longer, so it comes first.
    cpu_full = cpu_cores is not None and cpu_cores >= BUSY * service_cores
    pool = None if cpu_full else _pool_use(level)
    if pool is not None and pool_limit_rps and level.throughput_rps < POOL_REACH * pool_limit_rps:
        # Full, yet serving far less than its connections could at the
        # unloaded service time: each connection is held longer because
        # something else is slow (a busy core), so the queue is a symptom.
        pool = None
    pool_binds = pool is not None and pool[0] >= WELL_USED
    if level.saturation is not None and not pool_binds:
        used.append((level.saturation, "worker slots", f"{level.saturation:.0%} of the slots busy"))
    if pool is not None:
        used.append(pool)
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


def _service_cores_busy(level: Level) -> float | None:
    """Cores the row used, plus our PostgreSQL's where it shares the service cores:
    a lookup's CPU is the row's and its database's, on the same core."""
    if level.cpu_cores is None:
        return None
    return level.cpu_cores + (level.database_cpu_cores or 0.0)


def _cpu_evidence(level: Level, busy: float, service_cores: int) -> str:
    evidence = f"{busy:.2f} of {service_cores} core(s) busy"
    if level.database_cpu_cores and level.cpu_cores is not None:
        evidence += f": the row {level.cpu_cores:.2f}, PostgreSQL {level.database_cpu_cores:.2f}"
    return evidence


def _pool_use(level: Level) -> tuple[float, str, str] | None:
    """How much of the database pool the level kept in use, and the evidence.

    None without a pool, or with one no smaller than the worker slots.
    """
    if not level.db_pool_size:
        return None
    if level.slots is not None and level.slots <= level.db_pool_size:
        return None
    share = pool_share(level.db_pool_size, level.db_pool_in_use_mean, level.db_pool_waiting_mean)
    if share is None:
        return None
    size = f"{level.db_pool_size:g} pooled connections"
    waiting = level.db_pool_waiting_mean or 0.0
    if waiting >= POOL_QUEUE:
        return share, DATABASE_POOL, f"{waiting:.1f} requests on average waiting for one of {size}"
    return share, DATABASE_POOL, f"{share:.0%} of {size} in use"


def pool_share(size: float | None, in_use: float | None, waiting: float | None) -> float | None:
    """The share of the database pool in use; None without a pool or figures.

    A request waits only while every connection is out, so a queue means a
    full pool; else the in-use gauge's mean (sampled at each scrape, it lags a
    short step by up to one).
    """
    if not size:
        return None
    if (waiting or 0.0) >= POOL_QUEUE:
        return 1.0
    return None if in_use is None else in_use / size


@dataclass(frozen=True)
class Prediction:
    """Where the probe says the row should saturate: the first round's aim."""

    capacity_rps: float | None
    littles_law_rps: float | None  # slots / service time
    cpu_limit_rps: float | None  # cores / CPU per request (gross: idle CPU included)


def service_time_ms(probe: StepFigures, within: list[StepFigures]) -> float | None:
    """The row's service time: the median server-side mean of the steps within the SLO.

    The probe's own figure is the fallback: it includes the row's first
    requests, which on some rows (Django) are much slower than the rest.
    """
    measured = [s.server_mean_ms for s in within if s.server_mean_ms]
    return statistics.median(measured) if measured else probe.server_mean_ms


def predict(workload: str, probe: StepFigures, service_cores: int) -> Prediction:
    """Little's law from the probe's service time; the utilisation law from its CPU per request.

    The probe's CPU per request is gross (one request at a time, idle CPU
    included), so its CPU limit is low for an event loop: the search
    starts above it and aims higher by the CPU share each step leaves idle.
    """
    slots, _ = _slots(workload, probe, probe.db_pool_size)
    service_s = probe.server_mean_ms / 1000.0 if probe.server_mean_ms else None
    littles = slots / service_s if slots and service_s else None
    per_request_s = probe.cpu_ms_per_request / 1000.0 if probe.cpu_ms_per_request else None
    cpu_limit = service_cores / per_request_s if per_request_s else None
    limits = [limit for limit in (littles, cpu_limit) if limit and limit > 0]
    return Prediction(min(limits) if limits else None, littles, cpu_limit)


def predicted_capacity(
    littles_law_rps: float | None,
    knee_steps: list[StepFigures],
    reference: float | None,
    service_cores: int,
) -> tuple[float | None, str]:
    """The capacity the levels below it predict, and from what; None where none can be.

    Little's law where the row has a fixed number of slots; the utilisation
    law (cores x requests per CPU-second) where the row kept at least half
    its cores busy at the knee. The lower of the two.
    """
    predictions: list[tuple[float, str]] = []
    if littles_law_rps:
        predictions.append((littles_law_rps, "Little's law"))
    busy = _median(s.cpu_cores for s in knee_steps)
    efficiency = _median(repeats.requests_per_cpu_second(s, reference) for s in knee_steps)
    if busy is not None and efficiency and busy >= CPU_PREDICTS * service_cores:
        predictions.append((service_cores * efficiency, "CPU per request at the knee"))
    if not predictions:
        return None, "none: no fixed slots, and under half the CPU busy at the knee"
    return min(predictions)


def _scaled(found: Estimate | None, factor: int) -> Estimate | None:
    if found is None:
        return None
    return Estimate(
        factor * found.value,
        None if found.low is None else factor * found.low,
        None if found.high is None else factor * found.high,
        found.repeats,
        found.at_least,
    )


def combo(
    row: str,
    workload: str,
    steps: list[StepFigures],
    *,
    samples: repeats.Samples,
    sigmas: Sigmas,
    reference: float | None,
    service_cores: int,
) -> Combo | None:
    probes = [s for s in steps if s.kind == "probe" and not s.partial]
    loads = [s for s in steps if s.kind == "load" and not s.partial and s.offered_rps]
    if not probes:
        return None
    by_rate: dict[float, list[StepFigures]] = defaultdict(list)
    for step in loads:
        assert step.offered_rps is not None
        by_rate[round(step.offered_rps, 3)].append(step)
    levels = tuple(_level(rate, by_rate[rate]) for rate in sorted(by_rate))
    within = [level for level in levels if not level.saturated]
    knee = max(within, key=lambda level: level.offered_rps) if within else None
    above = [
        lv for lv in levels if lv.saturated and (knee is None or lv.offered_rps > knee.offered_rps)
    ]
    # The pool as every step saw it: a worker the probe never reached opens its own later.
    pool_size = max((s.db_pool_size for s in probes + loads if s.db_pool_size), default=None)
    slots, slots_basis = _slots(workload, probes[0], pool_size)
    service_ms = service_time_ms(probes[0], [s for s in loads if not s.saturated])
    littles = slots / (service_ms / 1000.0) if slots and service_ms else None
    knee_steps = by_rate[round(knee.offered_rps, 3)] if knee else []
    predicted, basis = predicted_capacity(littles, knee_steps, reference, service_cores)
    capacity = estimate(
        samples.capacity_rps, sigmas["capacity_rps"], at_least=not samples.capacity_reached
    )
    efficiency = estimate(samples.requests_per_cpu_second, sigmas["requests_per_cpu_second"])
    # What capped the row: the capacity level where it could not keep up; else
    # the first level past the knee.
    at_capacity = [
        lv
        for lv in levels
        if samples.capacity_reached and lv.offered_rps == samples.capacity_level_rps
    ]
    limit_level = at_capacity[0] if at_capacity else (above[0] if above else None)
    limited_by, evidence = (
        _limited_by(
            limit_level,
            service_cores,
            littles if slots_basis.startswith(DATABASE_POOL) else None,
        )
        if limit_level
        else (NOT_REACHED, "no level saturated")
    )
    return Combo(
        row=row,
        workload=workload,
        service_time_ms=service_ms,
        slots=slots,
        slots_basis=slots_basis,
        littles_law_rps=littles,
        levels=levels,
        capacity=capacity,
        knee=estimate(samples.knee_rps, sigmas["knee_rps"]),
        requests_per_cpu_second=efficiency,
        cpu_capacity=_scaled(efficiency, service_cores),
        knee_level_rps=knee.offered_rps if knee else None,
        above_knee_rps=above[0].offered_rps if above else None,
        p99_at_knee_ms=knee.p99_ms if knee else None,
        delivered_at_knee=knee.throughput_rps / knee.offered_rps if knee else None,
        predicted_capacity_rps=predicted,
        prediction_basis=basis,
        capacity_ratio=(
            capacity.value / predicted if capacity and predicted and not capacity.at_least else None
        ),
        capacity_cpu_share=(
            limit_level.cpu_cores / service_cores
            if limit_level and limit_level.cpu_cores is not None
            else None
        ),
        limited_by=limited_by,
        evidence=evidence,
    )


FIGURES = ("capacity_rps", "knee_rps", "requests_per_cpu_second")
# A workload's own pooled noise needs this many pairs; with fewer, the run's.
MIN_PAIRS_TO_POOL = 3


@dataclass(frozen=True)
class Noise:
    """The run's pooled sigma of each figure, over every pair and per workload.

    Intervals use the workload's: its rows share what they wait on, and the
    noise of that differs by far more than between rows (in two runs on
    2026-12-04 the rounds of a capacity spread 0.2-0.4% on /io/blocking,
    where a blocked loop serves exactly 1 / 0.1 s, and 7-12% on /db/query,
    where the row shares its core with PostgreSQL). Pooled over every
    workload, the quiet ones made /io/thread's intervals half as wide as
    its own noise, and an A/A copy was ranked against its original.
    """

    overall: Sigmas
    by_workload: dict[str, Sigmas]

    def of(self, workload: str) -> Sigmas:
        return self.by_workload.get(workload, self.overall)


def pooled_noise(samples: dict[tuple[str, str], repeats.Samples]) -> Noise:
    def pooled(pairs: list[repeats.Samples]) -> Sigmas:
        return {
            figure: pooled_log_sigma(getattr(found, figure) for found in pairs)
            for figure in FIGURES
        }

    def repeated(pairs: list[repeats.Samples], figure: str) -> int:
        return sum(1 for found in pairs if len(getattr(found, figure)) > 1)

    by_workload: dict[str, list[repeats.Samples]] = defaultdict(list)
    for (_, workload), found in samples.items():
        by_workload[workload].append(found)
    overall = pooled(list(samples.values()))
    per_workload = {}
    for workload, pairs in by_workload.items():
        own = pooled(pairs)
        per_workload[workload] = {
            figure: own[figure] if repeated(pairs, figure) >= MIN_PAIRS_TO_POOL else overall[figure]
            for figure in FIGURES
        }
    return Noise(overall, per_workload)


def combos(steps: list[StepFigures], service_cores: int) -> tuple[list[Combo], Noise]:
    """Every row x workload of the run, and the run's noise: each figure's pooled sigma."""
    grouped: dict[tuple[str, str], list[StepFigures]] = defaultdict(list)
    for step in steps:
        grouped[(step.row, step.workload)].append(step)
    reference = repeats.speed_reference(steps)
    samples = {
        pair: repeats.pair_samples(group, reference, service_cores)
        for pair, group in grouped.items()
    }
    noise = pooled_noise(samples)
    found = (
        combo(
            row,
            workload,
            group,
            samples=samples[(row, workload)],
            sigmas=noise.of(workload),
            reference=reference,
            service_cores=service_cores,
        )
        for (row, workload), group in grouped.items()
    )
    ordered = sorted((c for c in found if c is not None), key=lambda c: (c.workload, c.row))
    return ordered, noise


def warnings(
    steps: list[StepFigures], all_combos: list[Combo], rounds: int, service_cores: int
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
        # The service cores, not the row alone: our PostgreSQL shares them.
        cores_busy = (
            None if step.cpu_cores is None else step.cpu_cores + (step.database_cpu_cores or 0.0)
        )
        server_idle = cores_busy is not None and cores_busy < LOW_SERVER_CPU * service_cores
        queue_full = (
            any(
                value is not None and value >= BUSY
                for value in (
                    step.saturation,
                    (step.threadpool_busy_mean or 0) / step.threadpool_size
                    if step.threadpool_size
                    else None,
                    pool_share(
                        step.db_pool_size, step.db_pool_in_use_mean, step.db_pool_waiting_mean
                    ),
                )
            )
            or (step.loop_lag_p99_ms or 0) >= LOOP_BLOCKED_MS
        )
        if step.dropped_iterations and server_idle and not queue_full and step.kind == "load":
            found.append(
                f"dropped iterations at low server CPU: {step.dropped_iterations} during {where} "
                f"with the {'row and PostgreSQL' if step.database_cpu_cores else 'row'} at "
                f"{cores_busy:.2f} cores and no full queue: "
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
        capacity = c.capacity
        spread = capacity.half_width() if capacity else None
        if capacity is not None and spread is not None and spread > NOISY_SPREAD:
            found.append(
                f"noisy: {c.row} {c.workload}, capacity {capacity.value:.3g} rps but anywhere "
                f"from {capacity.low:.3g} to {capacity.high:.3g} over {capacity.repeats} rounds"
            )
    if rounds < 2:
        found.append(
            "one round: the run measured no noise, so no figure has an interval and nothing "
            "is ranked (use --repeats 3 or more)"
        )
    return found


def combos_by_workload(all_combos: list[Combo]) -> dict[str, list[Combo]]:
    """Combos grouped per workload, in the order WORKLOADS lists them."""
    order = [workload.name for workload in WORKLOADS]
    grouped: dict[str, list[Combo]] = {name: [] for name in order}
    for c in all_combos:
        grouped[c.workload].append(c)
    return {name: group for name, group in grouped.items() if group}
