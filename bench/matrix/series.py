"""Read a step's recorded Prometheus series: counter increases, gauge means, quantiles."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Points = list[tuple[float, float]]


@dataclass(frozen=True)
class Increase:
    """A counter's increase between two scrapes, and the seconds between them."""

    value: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.value / self.seconds


class StepSeries:
    """The series.json of one step."""

    def __init__(self, recorded: dict[str, Any]) -> None:
        self._counters: dict[str, Any] = recorded.get("counters", {})
        self._gauges: dict[str, Any] = recorded.get("gauges", {})

    @classmethod
    def load(cls, path: Path) -> StepSeries:
        if not path.is_file():
            return cls({})
        return cls(json.loads(path.read_text()))

    def counter(self, name: str, by: str | None = None) -> dict[str, Points]:
        """Raw samples summed over label sets per scrape (grouped by label ``by``)."""
        sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        for series in self._counters.get(name, {}).get("result", []):
            group = series["metric"].get(by, "") if by else ""
            for t, v in series["values"]:
                # One scrape gives every series of the row the same timestamp.
                sums[group][round(float(t), 3)] += float(v)
        return {group: sorted(points.items()) for group, points in sums.items()}

    def total(self, name: str) -> Points:
        return self.counter(name).get("", [])

    def gauge(self, name: str) -> Points:
        result = self._gauges.get(name, {}).get("result", [])
        return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []

    def gauge_labels(self, name: str) -> dict[str, str]:
        result = self._gauges.get(name, {}).get("result", [])
        return dict(result[0]["metric"]) if result else {}


def scrapes_within(points: Points, start: float, end: float) -> tuple[float, float] | None:
    """The first and the last scrape inside [start, end] (None if fewer than two)."""
    inside = [t for t, _ in points if start <= t <= end]
    return (inside[0], inside[-1]) if len(inside) >= 2 else None


def increase(points: Points, span: tuple[float, float] | None) -> Increase | None:
    """The counter's increase between the two scrapes of ``span``."""
    if span is None:
        return None
    values = dict(points)
    first, last = span
    # A series born inside the window (a route's first request) had counted 0 before.
    before, after = values.get(first, 0.0), values.get(last)
    if after is None:
        return None
    return Increase(max(0.0, after - before), last - first)


def mean_between(points: Points, start: float, end: float) -> float | None:
    inside = [v for t, v in points if start <= t <= end]
    return sum(inside) / len(inside) if inside else None


def max_between(points: Points, start: float, end: float) -> float | None:
    inside = [v for t, v in points if start <= t <= end]
    return max(inside) if inside else None


def bucket_increases(
    by_le: dict[str, Points], span: tuple[float, float] | None
) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) of a histogram's observations within the span."""
    buckets = []
    for le, points in by_le.items():
        count = increase(points, span)
        if count is not None:
            buckets.append((math.inf if le == "+Inf" else float(le), count.value))
    return sorted(buckets)


def histogram_quantile(quantile: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile over cumulative buckets (linear within a bucket)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = quantile * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for upper_bound, count in buckets:
        if count >= rank:
            if math.isinf(upper_bound):
                return lower_bound  # Prometheus answers the highest finite bound
            if count == lower_count:
                return upper_bound
            fraction = (rank - lower_count) / (count - lower_count)
            return lower_bound + (upper_bound - lower_bound) * fraction
        lower_bound, lower_count = upper_bound, count
    return lower_bound
