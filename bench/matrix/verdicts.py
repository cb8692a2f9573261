"""What a run claims: per row x workload its figures, per workload only the rankings it separates.

The primary figure of every verdict is the row's **capacity**: what it
served when it could not keep up with the offered load. It is a mean over
the whole step, set by the resource that binds (CPU, worker slots, threads,
the database pool, a blocked loop), and the speed probe takes the machine's drift out of it.
The knee (the highest rate within the SLO) is what users size by, but it
is decided by the 99th percentile of a short step, which near saturation
turns on a few slow requests (a garbage collection, a slow second of a
shared VM): it moves more between runs than capacity does
(docs/performance.md, "Reproducibility"). So rankings are made on capacity
alone; the knee is reported with its interval and never ranked.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from bench.matrix.analysis import Combo
from bench.matrix.control import control_name
from bench.matrix.stats import Estimate, at_most_apart, ratio_interval, separated

PRIMARY = "capacity_rps"


@dataclass(frozen=True)
class Ranking:
    """A claim: on ``workload``, ``faster`` has a higher capacity than ``slower``."""

    workload: str
    faster: str
    slower: str
    ratio: float
    ratio_interval: tuple[float | None, float | None]


@dataclass(frozen=True)
class Tie:
    """Two rows the run cannot tell apart: at most ``at_most`` x apart (None: unbounded)."""

    workload: str
    first: str
    second: str
    at_most: float | None


def _by_capacity(combos: list[Combo]) -> list[tuple[Combo, Estimate]]:
    measured = [(c, c.capacity) for c in combos if c.capacity is not None]
    return sorted(measured, key=lambda pair: pair[1].value, reverse=True)


def rankings(combos: list[Combo]) -> list[Ranking]:
    """Every pair of rows of a workload whose capacity intervals do not overlap."""
    found = []
    for workload, group in _grouped(combos).items():
        for (a, a_cap), (b, b_cap) in itertools.combinations(_by_capacity(group), 2):
            if separated(a_cap, b_cap):
                ratio = a_cap.value / b_cap.value
                found.append(Ranking(workload, a.row, b.row, ratio, ratio_interval(a_cap, b_cap)))
    return found


def ties(combos: list[Combo]) -> list[Tie]:
    """Every pair of rows of a workload that the run does not separate."""
    found = []
    for workload, group in _grouped(combos).items():
        for (a, a_cap), (b, b_cap) in itertools.combinations(_by_capacity(group), 2):
            if not separated(a_cap, b_cap) and not separated(b_cap, a_cap):
                found.append(Tie(workload, a.row, b.row, at_most_apart(a_cap, b_cap)))
    return found


def _grouped(combos: list[Combo]) -> dict[str, list[Combo]]:
    grouped: dict[str, list[Combo]] = {}
    for c in combos:
        grouped.setdefault(c.workload, []).append(c)
    return grouped


@dataclass(frozen=True)
class ControlResult:
    """The A/A control against its original, per workload."""

    original: str
    control: str
    ratios: dict[str, float]  # control / original capacity
    separated: list[str]  # workloads where the two were ranked: the run is not to be trusted

    @property
    def noise_floor(self) -> float | None:
        """How far apart the two identical rows came out, at most (0.03: 3%)."""
        if not self.ratios:
            return None
        return max(abs(math.log(ratio)) for ratio in self.ratios.values())


def control_result(combos: list[Combo], original: str) -> ControlResult:
    twin = control_name(original)
    by_pair = {(c.row, c.workload): c for c in combos}
    ratios: dict[str, float] = {}
    apart: list[str] = []
    for (row, workload), c in by_pair.items():
        other = by_pair.get((twin, workload))
        if row != original or other is None or not c.capacity or not other.capacity:
            continue
        ratios[workload] = other.capacity.value / c.capacity.value
        if separated(c.capacity, other.capacity) or separated(other.capacity, c.capacity):
            apart.append(workload)
    return ControlResult(original, twin, ratios, apart)


def _interval(found: Estimate | None) -> list[float | None] | None:
    return None if found is None else [found.low, found.high]


def verdict_record(c: Combo) -> dict[str, Any]:
    """One entry of results.json's ``verdicts``."""

    def value(found: Estimate | None) -> float | None:
        return None if found is None else found.value

    return {
        "row": c.row,
        "workload": c.workload,
        "primary": PRIMARY,
        "capacity_rps": value(c.capacity),
        "capacity_rps_interval": _interval(c.capacity),
        "capacity_reached": c.capacity is not None and not c.capacity.at_least,
        "knee_rps": value(c.knee),
        "knee_rps_interval": _interval(c.knee),
        "knee_next_level_rps": c.above_knee_rps,
        "requests_per_cpu_second": value(c.requests_per_cpu_second),
        "requests_per_cpu_second_interval": _interval(c.requests_per_cpu_second),
        "cpu_capacity_rps": value(c.cpu_capacity),
        "cpu_capacity_rps_interval": _interval(c.cpu_capacity),
        "repeats": 0 if c.capacity is None else c.capacity.repeats,
        "p99_at_knee_ms": c.p99_at_knee_ms,
        "predicted_capacity_rps": c.predicted_capacity_rps,
        "limited_by": c.limited_by,
        "evidence": c.evidence,
    }


def ranking_record(ranking: Ranking) -> dict[str, Any]:
    """One entry of results.json's ``rankings``."""
    return {
        "workload": ranking.workload,
        "figure": PRIMARY,
        "faster": ranking.faster,
        "slower": ranking.slower,
        "ratio": ranking.ratio,
        "ratio_interval": list(ranking.ratio_interval),
    }
