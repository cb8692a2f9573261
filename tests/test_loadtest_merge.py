"""Merging k6 summaries of several instances: counts add, quantiles come from the pooled data."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from bench.loadtest.merge import (
    TREND_STATS,
    SummaryMergeError,
    merge_summaries,
    percentile_of,
    text_summary,
)


def k6_trend(samples: list[float]) -> dict[str, float]:
    """What k6 reports for a trend with TREND_STATS (k6 interpolates linearly, as numpy does)."""
    values: dict[str, float] = {}
    for stat in TREND_STATS:
        if stat == "count":
            values[stat] = len(samples)
        elif stat == "avg":
            values[stat] = float(np.mean(samples))
        elif stat == "min":
            values[stat] = min(samples)
        elif stat == "max":
            values[stat] = max(samples)
        else:
            p = 50.0 if stat == "med" else percentile_of(stat)
            assert p is not None
            values[stat] = float(np.percentile(samples, p))
    return values


def summary(
    samples: list[float], *, duration_ms: float = 10_000, ok: bool = True
) -> dict[str, Any]:
    n = len(samples)
    return {
        "root_group": {
            "name": "",
            "path": "",
            "id": "root",
            "checks": [{"name": "status is 200", "path": "::status is 200", "id": "c",
                        "passes": n, "fails": 0}],
            "groups": [],
        },
        "options": {"summaryTrendStats": list(TREND_STATS)},
        "state": {"testRunDurationMs": duration_ms},
        "metrics": {
            "http_reqs": {"type": "counter", "contains": "default",
                          "values": {"count": n, "rate": n / duration_ms * 1000}},
            "http_req_failed": {"type": "rate", "contains": "default",
                                "values": {"rate": 0.0, "passes": 0, "fails": n},
                                "thresholds": {"rate<0.01": {"ok": True}}},
            "vus_max": {"type": "gauge", "contains": "default",
                        "values": {"value": 10, "min": 10, "max": 10}},
            "http_req_duration": {"type": "trend", "contains": "time",
                                  "values": k6_trend(samples),
                                  "thresholds": {"p(95)<100": {"ok": ok}}},
        },
    }  # fmt: skip


def pooled_rank(pooled: np.ndarray, x: float) -> float:
    """Where ``x`` falls in the pooled data, as a percentile."""
    return float(np.searchsorted(np.sort(pooled), x, side="right") / len(pooled) * 100)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_merged_quantiles_are_those_of_the_pooled_durations(seed: int) -> None:
    """Two instances with different latency and counts: within the grid's rank error."""
    rng = random.Random(seed)
    fast = [rng.lognormvariate(1.0, 0.4) for _ in range(rng.randint(3_000, 6_000))]
    slow = [rng.lognormvariate(2.0, 0.8) for _ in range(rng.randint(1_000, 3_000))]
    merged = merge_summaries([summary(fast), summary(slow)])
    values = merged["metrics"]["http_req_duration"]["values"]
    pooled = np.array(fast + slow)
    for stat in ("med", "p(90)", "p(95)", "p(99)", "p(99.9)", "p(12.3)"):
        p = 50.0 if stat == "med" else percentile_of(stat)
        assert p is not None
        exact = float(np.percentile(pooled, p))
        # Rank error at most 0.1 percentile point (0.01 above p99.9), plus one sample.
        tolerance = 0.1 + 100 / len(pooled)
        assert abs(pooled_rank(pooled, values[stat]) - p) <= tolerance, (stat, values[stat], exact)
    assert values["count"] == len(pooled)
    assert values["min"] == min(pooled)
    assert values["max"] == max(pooled)
    assert values["avg"] == pytest.approx(float(np.mean(pooled)))


def test_one_instance_merges_into_itself() -> None:
    rng = random.Random(7)
    alone = summary([rng.expovariate(0.1) for _ in range(2_000)])
    merged = merge_summaries([alone])
    ours = merged["metrics"]["http_req_duration"]["values"]
    theirs = alone["metrics"]["http_req_duration"]["values"]
    assert ours == pytest.approx(theirs)


def test_a_mean_of_quantiles_would_be_wrong_and_the_merge_is_not() -> None:
    """Half the requests at ~1 ms, half at ~100 ms: p25 in the fast half, p75, p99 in the slow."""
    rng = random.Random(3)
    fast = [1 + rng.random() * 0.1 for _ in range(1_000)]
    slow = [100 + rng.random() for _ in range(1_000)]
    values = merge_summaries([summary(fast), summary(slow)])["metrics"]["http_req_duration"]
    p99_mean = (np.percentile(fast, 99) + np.percentile(slow, 99)) / 2
    assert values["values"]["p(99)"] >= 100  # the mean of the two p99s would say ~51 ms
    assert p99_mean < 60
    assert 1 <= values["values"]["p(25)"] <= 1.1
    assert 100 <= values["values"]["p(75)"] <= 101


def test_counts_rates_gauges_checks_and_thresholds_add_up() -> None:
    a = summary([1.0] * 300, duration_ms=10_000)
    b = summary([2.0] * 200, duration_ms=10_500, ok=False)
    merged = merge_summaries([a, b])
    metrics = merged["metrics"]
    assert metrics["http_reqs"]["values"] == {"count": 500, "rate": pytest.approx(500 / 10.5)}
    assert metrics["http_req_failed"]["values"] == {"passes": 0, "fails": 500, "rate": 0.0}
    assert metrics["vus_max"]["values"] == {"value": 20, "min": 20, "max": 20}
    assert metrics["http_req_failed"]["thresholds"] == {"rate<0.01": {"ok": True}}
    assert metrics["http_req_duration"]["thresholds"] == {"p(95)<100": {"ok": False}}
    [check] = merged["root_group"]["checks"]
    assert (check["passes"], check["fails"]) == (500, 0)
    assert merged["state"]["testRunDurationMs"] == 10_500
    assert merged["merged"]["instances"] == 2
    # Equal durations in both halves: the merged median is the jump between them.
    assert metrics["http_req_duration"]["values"]["med"] in (1.0, 2.0)
    text = text_summary(merged, "soak against fastapi-async /hello, 2 k6 instances")
    assert "  http_reqs: 500 (47.6/s)" in text


def test_summaries_without_the_quantile_grid_are_refused() -> None:
    bare = summary([1.0, 2.0])
    bare["metrics"]["http_req_duration"]["values"] = {"avg": 1.5, "min": 1, "max": 2, "med": 1.5}
    with pytest.raises(SummaryMergeError, match="--summary-trend-stats"):
        merge_summaries([bare, bare])


def test_the_grid_holds_the_stats_the_reports_read() -> None:
    assert {"med", "p(90)", "p(95)", "p(99)", "p(99.9)", "p(99.99)", "count"} <= set(TREND_STATS)
    assert len(TREND_STATS) == len(set(TREND_STATS))
