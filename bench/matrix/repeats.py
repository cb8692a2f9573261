"""Each figure of one row x workload, one sample per round, with the machine's speed taken out.

The speed probe (bench.matrix.speed) says how fast the service cores ran
during each step, relative to the run's median step: ``speed`` 1.1 means a
unit of Python work took 10% less time than usual. A step's throughput is
divided by ``1 - u + u x speed``, u being the share of the service cores the
row kept busy: a CPU-bound row (u = 1) serves in proportion to the speed, a
row waiting on sleeps and sockets (u near 0) does not, and a row in between
(one sync worker doing 12 ms of CPU and 100 ms of waiting) moves with the
CPU share of its service time. CPU per request is CPU time, so it is always
scaled by the speed in full.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from bench.matrix.figures import StepFigures
from bench.matrix.ladder import Outcome, mild_overload

MS_PER_S = 1000.0


@dataclass(frozen=True)
class Samples:
    """One value per round that measured it."""

    capacity_rps: list[float]  # served at the capacity level (a mild overload)
    capacity_reached: bool  # False: it always kept up, the values are lower bounds
    capacity_level_rps: float | None  # the offered rate of that level
    knee_rps: list[float]  # the highest offered rate within the SLO
    requests_per_cpu_second: list[float]


def speed_reference(steps: Iterable[StepFigures]) -> float | None:
    """The run's typical unit time: the median over its load steps."""
    units = [
        s.speed_unit_s
        for s in steps
        if s.kind == "load" and not s.partial and s.speed_unit_s is not None
    ]
    return statistics.median(units) if units else None


def speed(step: StepFigures, reference: float | None) -> float:
    """How much faster than usual the service cores ran during ``step`` (1.0: unknown)."""
    if reference is None or not step.speed_unit_s:
        return 1.0
    return reference / step.speed_unit_s


def drift_factor(step: StepFigures, reference: float | None, service_cores: int) -> float:
    """What the step's throughput is divided by: 1 - u + u x speed."""
    if step.cpu_cores is None:
        return 1.0
    busy = min(1.0, max(0.0, step.cpu_cores / service_cores))
    return 1.0 - busy + busy * speed(step, reference)


def normalized_throughput(step: StepFigures, reference: float | None, service_cores: int) -> float:
    return step.throughput_rps / drift_factor(step, reference, service_cores)


def normalized_offered(step: StepFigures, reference: float | None, service_cores: int) -> float:
    assert step.offered_rps is not None
    return step.offered_rps / drift_factor(step, reference, service_cores)


def requests_per_cpu_second(step: StepFigures, reference: float | None) -> float | None:
    if not step.cpu_ms_per_request:
        return None
    return MS_PER_S / step.cpu_ms_per_request / speed(step, reference)


def _knee_samples(
    rounds: dict[int, list[StepFigures]], reference: float | None, service_cores: int
) -> list[float]:
    within = [s for steps in rounds.values() for s in steps if not s.saturated]
    samples = []
    for steps in rounds.values():
        mine = [s for s in steps if not s.saturated]
        if not mine:
            # Every level of this round was past the knee: it counts the highest
            # level below them that stayed within the SLO in another round.
            lowest = min(s.offered_rps or 0.0 for s in steps)
            below = [s for s in within if (s.offered_rps or 0.0) < lowest]
            mine = [max(below, key=lambda s: s.offered_rps or 0.0)] if below else []
        if mine:
            samples.append(max(normalized_offered(s, reference, service_cores) for s in mine))
    return samples


def capacity_steps(rounds: dict[int, list[StepFigures]]) -> tuple[float | None, list[StepFigures]]:
    """The capacity level, and the step of every round that measures capacity there.

    The capacity level is the one round 1 found and every later round reran
    (bench.matrix.ladder): its mild overload, or, where it never overloaded
    the row, its highest rate. A round's capacity step is its lowest step at
    or above that level that overloaded the row: the level itself, or, where
    the row kept up there, the round's escalation above it. A round that
    never overloaded the row gives its highest step, as a bound.
    """
    if not rounds:
        return None, []
    first = rounds[min(rounds)]
    level = mild_overload(
        [Outcome(s.offered_rps or 0.0, s.saturated, s.overloaded, s.throughput_rps) for s in first]
    )
    if level is None:
        level = max(s.offered_rps or 0.0 for s in first)
    chosen = []
    for steps in rounds.values():
        above = sorted(
            (s for s in steps if (s.offered_rps or 0.0) >= level),
            key=lambda s: s.offered_rps or 0.0,
        )
        overloaded = [s for s in above if s.overloaded]
        if overloaded:
            chosen.append(overloaded[0])
        elif above:
            chosen.append(above[-1])
    return level, chosen


def pair_samples(steps: list[StepFigures], reference: float | None, service_cores: int) -> Samples:
    """The samples of one row x workload from its load steps (probes and partial steps left out)."""
    rounds: dict[int, list[StepFigures]] = defaultdict(list)
    for step in steps:
        if step.kind == "load" and not step.partial and step.offered_rps:
            rounds[step.repeat].append(step)
    level, chosen = capacity_steps(rounds)
    # Every round counts, overloaded or not: a faster moment of the machine
    # that let the row keep up is part of the noise. It is reached when most
    # rounds overloaded the row; otherwise what it served is only a bound.
    capacity = [normalized_throughput(step, reference, service_cores) for step in chosen]
    efficiency = [
        value for step in chosen if (value := requests_per_cpu_second(step, reference)) is not None
    ]
    reached = 2 * sum(1 for step in chosen if step.overloaded) > len(chosen)
    return Samples(
        capacity_rps=capacity,
        capacity_reached=reached,
        capacity_level_rps=level,
        knee_rps=_knee_samples(rounds, reference, service_cores),
        requests_per_cpu_second=efficiency,
    )
