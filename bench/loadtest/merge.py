"""One run summary from the end-of-test summaries of N k6 instances.

Counts add up. Latency quantiles cannot be averaged (the mean of two p99s is
no p99 of anything), and k6's summary holds no raw durations, so each
instance is asked for its trend metrics at a fine grid of quantiles
(TREND_STATS: every 0.1 percentile, every 0.01 above p99.9, plus min, max and
the count). That is the instance's empirical distribution function sampled at
those points; between them it is interpolated linearly, as k6 interpolates
between order statistics. The merged distribution is the count-weighted
mixture of the instances' ones, and a merged quantile is where the mixture
reaches it. Against the exact quantile of all durations pooled, the rank
error is at most the grid spacing: 0.1 percentile points (0.01 above p99.9).
tests/test_loadtest_merge.py checks that against pooled samples.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from typing import Any

PERCENTILE = re.compile(r"^p\((\d+(?:\.\d+)?)\)$")


def _grid() -> list[str]:
    fine = [f"p({k // 10}.{k % 10})" if k % 10 else f"p({k // 10})" for k in range(1, 1000)]
    tail = [f"p(99.{k:02d})" for k in range(91, 100)]
    return fine + tail


# What every instance of a multi-instance run reports per trend metric
# (k6 --summary-trend-stats). The grid includes p(90), p(95), p(99) and every
# other stat the reports read.
TREND_STATS: tuple[str, ...] = ("avg", "min", "med", "max", "count", *_grid())

METHOD = (
    "counters, rates and gauges summed over the instances; trend quantiles of the "
    "count-weighted mixture of each instance's distribution sampled at every 0.1 "
    "percentile (0.01 above p99.9), rank error at most that spacing; gauges (vus) "
    "summed per statistic, so the merged max is an upper bound of the true one; "
    "thresholds ok only where every instance's were"
)


NO_GRID = (
    "a trend metric without count and quantile grid: run k6 with "
    "--summary-trend-stats from bench.loadtest.merge.TREND_STATS"
)


class SummaryMergeError(ValueError):
    """Summaries that cannot be merged honestly (no counts or quantile grid)."""


def percentile_of(stat: str) -> float | None:
    match = PERCENTILE.match(stat)
    return float(match.group(1)) if match else None


class Distribution:
    """One instance's trend metric as a piecewise-linear distribution function."""

    def __init__(self, values: dict[str, float]) -> None:
        points = sorted(
            (p, float(v))
            for stat, v in values.items()
            if (p := percentile_of(stat)) is not None and 0 < p < 100
        )
        if not points or "count" not in values:
            raise SummaryMergeError(NO_GRID)
        self.count = float(values["count"])
        self.ranks = [0.0, *(p / 100 for p, _ in points), 1.0]
        quantiles = [float(values["min"]), *(v for _, v in points), float(values["max"])]
        # k6's interpolation is monotone; float rounding may not be.
        for i in range(1, len(quantiles)):
            quantiles[i] = max(quantiles[i], quantiles[i - 1])
        self.quantiles = quantiles

    def cdf(self, x: float, *, left: bool = False) -> float:
        """Share of observations at or below ``x`` (``left``: strictly below, the limit)."""
        qs = self.quantiles
        if x < qs[0] or (left and x == qs[0]):
            return 0.0
        if x > qs[-1] or (not left and x == qs[-1]):
            return 1.0
        k = (bisect.bisect_left if left else bisect.bisect_right)(qs, x) - 1
        low, high = qs[k], qs[k + 1]
        if high == low:
            return self.ranks[k + 1]
        return self.ranks[k] + (self.ranks[k + 1] - self.ranks[k]) * (x - low) / (high - low)


class Mixture:
    """The count-weighted mixture of several distributions, ready for quantiles."""

    def __init__(self, parts: Sequence[Distribution]) -> None:
        total = sum(part.count for part in parts)
        weights = [part.count / total for part in parts]
        self.xs = sorted({x for part in parts for x in part.quantiles})

        def mixed(x: float, *, left: bool) -> float:
            return sum(w * part.cdf(x, left=left) for w, part in zip(weights, parts, strict=True))

        # The mixture is linear between consecutive breakpoints (every part is
        # linear between its own) and may jump at one: keep both sides.
        self.at = [mixed(x, left=False) for x in self.xs]
        self.below = [mixed(x, left=True) for x in self.xs]

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0..1)."""
        xs, at, below = self.xs, self.at, self.below
        j = bisect.bisect_left(at, q)  # the first breakpoint where the mixture reaches q
        if j == 0:
            return xs[0]
        if j == len(xs):
            return xs[-1]
        if q <= below[j] and below[j] > at[j - 1]:
            return xs[j - 1] + (xs[j] - xs[j - 1]) * (q - at[j - 1]) / (below[j] - at[j - 1])
        return xs[j]  # within a jump: many observations at exactly xs[j]


def merge_trend(values: Sequence[dict[str, float]]) -> dict[str, float]:
    if any("count" not in v for v in values):
        raise SummaryMergeError(NO_GRID)
    observed = [v for v in values if v.get("count", 0) > 0]
    if not observed:
        return dict(values[0])
    parts = [Distribution(v) for v in observed]
    mixture = Mixture(parts)
    total = sum(part.count for part in parts)
    merged: dict[str, float] = {}
    for stat in values[0]:
        if stat == "count":
            merged[stat] = total
        elif stat == "avg":
            merged[stat] = sum(v["avg"] * v["count"] for v in observed) / total
        elif stat == "min":
            merged[stat] = min(v["min"] for v in observed)
        elif stat == "max":
            merged[stat] = max(v["max"] for v in observed)
        elif stat == "med":
            merged[stat] = mixture.quantile(0.5)
        elif (p := percentile_of(stat)) is not None:
            merged[stat] = mixture.quantile(p / 100)
    return merged


def merge_values(
    kind: str, values: Sequence[dict[str, float]], duration_s: float
) -> dict[str, Any]:
    if kind == "trend":
        return merge_trend(values)
    if kind == "counter":
        count = sum(v["count"] for v in values)
        return {"count": count, "rate": count / duration_s if duration_s > 0 else 0.0}
    if kind == "rate":
        passes = sum(v["passes"] for v in values)
        fails = sum(v["fails"] for v in values)
        return {"passes": passes, "fails": fails, "rate": passes / (passes + fails or 1)}
    if kind == "gauge":
        return {stat: sum(v[stat] for v in values) for stat in values[0]}
    raise SummaryMergeError(f"unknown k6 metric type {kind!r}")


def merge_thresholds(metrics: Sequence[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, dict[str, bool]] = {}
    for metric in metrics:
        for expression, result in metric.get("thresholds", {}).items():
            ok = merged.get(expression, {"ok": True})["ok"] and bool(result["ok"])
            merged[expression] = {"ok": ok}
    return merged


def merge_metrics(summaries: Sequence[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    names = sorted({name for s in summaries for name in s.get("metrics", {})})
    merged: dict[str, Any] = {}
    for name in names:
        present = [s["metrics"][name] for s in summaries if name in s.get("metrics", {})]
        first = present[0]
        metric: dict[str, Any] = {
            "type": first["type"],
            "contains": first.get("contains"),
            "values": merge_values(first["type"], [m["values"] for m in present], duration_s),
        }
        thresholds = merge_thresholds(present)
        if thresholds:
            metric["thresholds"] = thresholds
        merged[name] = metric
    return merged


def merge_groups(groups: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """root_group: checks' passes and fails summed by path, subgroups merged alike."""
    first = groups[0]
    checks: dict[str, dict[str, Any]] = {}
    for group in groups:
        for check in group.get("checks", []):
            total = checks.setdefault(check["path"], {**check, "passes": 0, "fails": 0})
            total["passes"] += check["passes"]
            total["fails"] += check["fails"]
    by_path: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        for sub in group.get("groups", []):
            by_path.setdefault(sub["path"], []).append(sub)
    return {
        **{key: first[key] for key in ("name", "path", "id") if key in first},
        "checks": list(checks.values()),
        "groups": [merge_groups(subs) for subs in by_path.values()],
    }


def merge_summaries(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """k6's handleSummary data of N instances of one run, as one summary of the same shape."""
    if not summaries:
        raise SummaryMergeError("no summaries to merge")
    duration_ms = max(float(s.get("state", {}).get("testRunDurationMs", 0)) for s in summaries)
    return {
        "root_group": merge_groups([s.get("root_group", {}) for s in summaries]),
        "options": summaries[0].get("options", {}),
        "state": {**summaries[0].get("state", {}), "testRunDurationMs": duration_ms},
        "metrics": merge_metrics(summaries, duration_ms / 1000),
        "merged": {"instances": len(summaries), "method": METHOD},
    }


TEXT_METRICS = (
    "http_reqs",
    "http_req_duration",
    "http_req_failed",
    "iterations",
    "dropped_iterations",
    "vus_max",
)


def text_summary(summary: dict[str, Any], title: str) -> str:
    """The lines loadtests/lib/summary.js prints, for a merged summary."""
    lines = [title]
    for name in TEXT_METRICS:
        metric = summary["metrics"].get(name)
        if metric is None:
            continue
        v = metric["values"]
        if metric["type"] == "counter":
            lines.append(f"  {name}: {v['count']:g} ({v['rate']:.1f}/s)")
        elif metric["type"] == "rate":
            lines.append(f"  {name}: {v['rate'] * 100:.2f}%")
        elif metric["type"] == "gauge":
            lines.append(f"  {name}: {v['value']:g} (max {v['max']:g})")
        else:
            lines.append(
                f"  {name}: p50={v['med']:.1f}ms p95={v['p(95)']:.1f}ms max={v['max']:.1f}ms"
            )
    return "\n".join(lines) + "\n"
