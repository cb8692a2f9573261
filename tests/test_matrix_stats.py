"""The statistics behind every verdict, on synthetic data: intervals, the ranking rule, speed."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import pytest

from bench.matrix import repeats
from bench.matrix.analysis import MIN_PAIRS_TO_POOL, pooled_noise
from bench.matrix.stats import (
    Estimate,
    at_most_apart,
    estimate,
    floor_half_width,
    pooled_log_sigma,
    ratio_interval,
    separated,
)
from tests.test_matrix_units import a_step


def noisy(rng: random.Random, centre: float, sigma: float, count: int) -> list[float]:
    return [centre * math.exp(rng.gauss(0.0, sigma)) for _ in range(count)]


def test_an_estimate_is_the_median_and_covers_every_repeat() -> None:
    found = estimate([100.0, 90.0, 130.0], sigma=0.01)
    assert found is not None
    assert found.value == 100.0
    assert found.low is not None
    assert found.high is not None
    assert found.low <= 90.0
    assert found.high >= 130.0
    assert found.repeats == 3


def test_repeats_that_agree_by_chance_still_get_the_runs_noise() -> None:
    """Three identical repeats are not an exact figure when the run's other pairs spread."""
    found = estimate([100.0, 100.0, 100.0], sigma=0.05)
    assert found is not None
    assert found.low is not None
    assert found.high is not None
    assert found.low < 95.0
    assert found.high > 105.0


def test_a_noisy_pair_gets_a_wider_interval_than_the_runs_noise_alone() -> None:
    quiet = estimate([100.0, 101.0, 99.0], sigma=0.02)
    loud = estimate([100.0, 120.0, 80.0], sigma=0.02)
    assert quiet is not None
    assert loud is not None
    assert loud.half_width() > quiet.half_width()  # type: ignore[operator]


def test_without_measured_noise_there_is_no_interval_and_no_ranking() -> None:
    high = estimate([1000.0], sigma=None)
    low = estimate([10.0], sigma=None)
    assert high is not None
    assert low is not None
    assert (high.low, high.high) == (None, None)
    assert not separated(high, low)


def test_a_lower_bound_has_no_upper_end_and_is_never_ranked_below() -> None:
    bound = estimate([3000.0, 3000.0, 3000.0], sigma=0.01, at_least=True)
    measured = estimate([5000.0, 5100.0, 4900.0], sigma=0.01)
    assert bound is not None
    assert measured is not None
    assert bound.high is None
    assert not separated(measured, bound)  # the bound may be higher still
    assert separated(bound, estimate([100.0, 101.0, 99.0], sigma=0.01))  # type: ignore[arg-type]


def test_pooled_sigma_is_the_typical_groups_spread_around_its_own_mean() -> None:
    # Each group: logs differ by 1, a variance of 0.5 on one degree of freedom,
    # scaled by the median of chi-square(1) (0.455) to be unbiased.
    groups = [[10.0, 10.0 * math.e], [1000.0, 1000.0 * math.e], [3.0, 3.0 * math.e]]
    assert pooled_log_sigma(groups) == pytest.approx(math.sqrt(0.5 / 0.45494), rel=1e-3)
    assert pooled_log_sigma([[5.0], [7.0]]) is None


def test_a_few_wild_pairs_do_not_widen_everyone_elses_interval() -> None:
    rng = random.Random(7)
    calm = [noisy(rng, 100.0, 0.03, 3) for _ in range(20)]
    wild = [noisy(rng, 100.0, 0.40, 3) for _ in range(3)]
    sigma = pooled_log_sigma([*calm, *wild])
    assert sigma is not None
    assert sigma < 0.06
    # ... while a wild pair's own spread still widens its own interval.
    own = estimate(wild[0], sigma)
    typical = estimate(calm[0], sigma)
    assert own is not None
    assert typical is not None
    assert own.half_width() > 2 * typical.half_width()  # type: ignore[operator]


def test_the_floor_narrows_with_more_repeats() -> None:
    three = floor_half_width(0.05, 3, 6)
    ten = floor_half_width(0.05, 10, 13)
    assert three is not None
    assert ten is not None
    assert ten < three


def _false_and_true_rankings(rounds: int, sigma: float, trials: int) -> tuple[float, float]:
    """Rankings of identical rows, and of rows 1.3x apart, in simulated runs of 33 pairs
    whose noise differs from pair to pair (0.5 to 2 times ``sigma``)."""
    rng = random.Random(20261202)
    identical = apart = 0
    for _ in range(trials):
        run = [
            noisy(rng, rng.uniform(10, 3000), sigma * rng.uniform(0.5, 2.0), rounds)
            for _ in range(30)
        ]
        a, b, c = (noisy(rng, 100.0, sigma, rounds) for _ in range(3))
        c = [value * 1.3 for value in c]
        pooled = pooled_log_sigma([*run, a, b, c])
        first, second, third = (estimate(x, pooled) for x in (a, b, c))
        assert first is not None
        assert second is not None
        assert third is not None
        identical += separated(first, second) or separated(second, first)
        apart += separated(third, first)
    return identical / trials, apart / trials


@pytest.mark.parametrize("rounds", [3, 5])
def test_rows_with_identical_distributions_are_almost_never_ranked(rounds: int) -> None:
    false_rate, true_rate = _false_and_true_rankings(rounds, sigma=0.04, trials=3000)
    assert false_rate <= 0.01, false_rate
    # ... and 1.3x apart with 4% noise, they are ranked most of the time.
    assert true_rate >= 0.8, true_rate


def _samples(capacities: list[float]) -> repeats.Samples:
    return repeats.Samples(capacities, True, None, list(capacities), list(capacities))


def _false_rankings_by_pooling(trials: int) -> tuple[float, float]:
    """Identical rows of a noisy workload (6%) in runs whose other workload is quiet
    (0.5%, more pairs): how often they are ranked with the run-wide pooled noise,
    and with the workload's own."""
    rng = random.Random(20261204)
    run_wide = own = 0
    for _ in range(trials):
        found = {(f"quiet-{i}", "io-blocking"): noisy(rng, 10.0, 0.005, 3) for i in range(10)}
        found |= {(f"loud-{i}", "db-query"): noisy(rng, 1500.0, 0.06, 3) for i in range(6)}
        a, b = noisy(rng, 1500.0, 0.06, 3), noisy(rng, 1500.0, 0.06, 3)
        found |= {("a", "db-query"): a, ("b", "db-query"): b}
        noise = pooled_noise({pair: _samples(values) for pair, values in found.items()})
        for sigma, count in ((noise.overall, "run_wide"), (noise.of("db-query"), "own")):
            first, second = estimate(a, sigma["capacity_rps"]), estimate(b, sigma["capacity_rps"])
            assert first is not None
            assert second is not None
            ranked = separated(first, second) or separated(second, first)
            if count == "run_wide":
                run_wide += ranked
            else:
                own += ranked
    return run_wide / trials, own / trials


def test_each_workloads_intervals_use_its_own_noise() -> None:
    """Pooled over every workload, a quiet one (a blocked loop at exactly 10 requests/s)
    narrows a noisy one's intervals until identical rows are ranked; pooled per
    workload, they almost never are."""
    run_wide, own = _false_rankings_by_pooling(trials=1500)
    assert own <= 0.005, own  # the rule's design rate, FALSE_RANKING
    assert run_wide >= 0.015, run_wide  # three times that, and more


def test_a_workload_with_too_few_pairs_uses_the_runs_noise() -> None:
    rng = random.Random(7)
    found = {(f"row-{i}", "io"): _samples(noisy(rng, 100.0, 0.03, 3)) for i in range(8)}
    found |= {
        (f"row-{i}", "cpu"): _samples(noisy(rng, 60.0, 0.2, 3))
        for i in range(MIN_PAIRS_TO_POOL - 1)
    }
    noise = pooled_noise(found)
    assert noise.of("cpu") == noise.overall
    assert noise.of("io") != noise.overall
    assert noise.of("a workload the run did not measure") == noise.overall


def test_identical_repeats_are_never_ranked() -> None:
    same = [100.0, 97.0, 104.0]
    first, second = estimate(same, 0.03), estimate(list(same), 0.03)
    assert first is not None
    assert second is not None
    assert not separated(first, second)
    assert not separated(second, first)
    assert at_most_apart(first, second) == pytest.approx(first.high / first.low)  # type: ignore[operator]


def test_the_ratio_interval_is_what_both_intervals_allow() -> None:
    a = Estimate(200.0, 180.0, 220.0, 3)
    b = Estimate(100.0, 90.0, 110.0, 3)
    assert separated(a, b)
    assert ratio_interval(a, b) == pytest.approx((180 / 110, 220 / 90))
    overlapping = Estimate(105.0, 95.0, 115.0, 3)
    assert not separated(overlapping, b)
    assert at_most_apart(overlapping, b) == pytest.approx(115 / 90)


def step_at(**changes: Any) -> Any:
    return replace(a_step(), **changes)


@pytest.mark.parametrize(
    ("cpu_cores", "factor"),
    [
        (1.0, 1.2),  # CPU-bound: served in proportion to the speed
        (0.0, 1.0),  # waiting on sleeps: the speed does not matter
        (0.5, 1.1),  # half its time on the CPU
    ],
)
def test_throughput_is_divided_by_the_cpu_share_of_the_speed(
    cpu_cores: float, factor: float
) -> None:
    step = step_at(cpu_cores=cpu_cores, speed_unit_s=0.25e-3 / 1.2, throughput_rps=1200.0)
    reference = 0.25e-3
    assert repeats.speed(step, reference) == pytest.approx(1.2)
    assert repeats.drift_factor(step, reference, 1) == pytest.approx(factor)
    assert repeats.normalized_throughput(step, reference, 1) == pytest.approx(1200.0 / factor)


def test_cpu_per_request_is_scaled_by_the_speed_in_full() -> None:
    step = step_at(cpu_cores=0.3, cpu_ms_per_request=1.0, speed_unit_s=0.5e-3)
    # The machine ran at half speed: a request that cost 1 ms would cost 0.5 ms usually.
    assert repeats.requests_per_cpu_second(step, 0.25e-3) == pytest.approx(2000.0)


def test_a_step_without_speed_samples_is_left_as_measured() -> None:
    step = step_at(speed_unit_s=None, cpu_cores=1.0)
    assert repeats.drift_factor(step, 0.25e-3, 1) == 1.0


def test_capacity_is_what_the_capacity_level_served_in_every_round() -> None:
    def load(repeat: int, offered: float, served: float, overloaded: bool, within: bool) -> Any:
        return step_at(
            repeat=repeat,
            offered_rps=offered,
            throughput_rps=served,
            overloaded=overloaded,
            saturated=not within,
        )

    steps = [
        # Round 1's search: a deep overload (the row served less the deeper it went) ...
        load(1, 400.0, 90.0, overloaded=True, within=False),
        # ... then the capacity level, a mild overload, and the knee.
        load(1, 150.0, 120.0, overloaded=True, within=False),
        load(1, 100.0, 100.0, overloaded=False, within=True),
        load(2, 150.0, 125.0, overloaded=True, within=False),
        load(2, 100.0, 99.0, overloaded=False, within=False),  # past the SLO this time
        load(3, 150.0, 118.0, overloaded=True, within=False),
        load(3, 100.0, 100.0, overloaded=False, within=True),
    ]
    found = repeats.pair_samples(steps, reference=None, service_cores=1)
    assert found.capacity_level_rps == 150.0
    assert sorted(found.capacity_rps) == [118.0, 120.0, 125.0]
    assert found.capacity_reached
    # Round 2's knee level was past the SLO and no lower level was tried: it gives no
    # knee sample rather than its own failed level.
    assert sorted(found.knee_rps) == [100.0, 100.0]


def test_a_round_that_kept_up_at_the_level_counts_its_escalation() -> None:
    def load(repeat: int, offered: float, served: float) -> Any:
        overloaded = served < 0.95 * offered
        return step_at(
            repeat=repeat,
            offered_rps=offered,
            throughput_rps=served,
            overloaded=overloaded,
            saturated=overloaded,
        )

    steps = [
        load(1, 1095.0, 1090.0),
        load(1, 657.0, 500.0),  # a stall in the search: not the capacity level
        load(1, 2000.0, 1400.0),
        load(1, 1680.0, 1400.0),
        # A faster moment: round 2 kept up at the level and went on up.
        load(2, 1680.0, 1675.0),
        load(2, 2100.0, 1800.0),
        load(3, 1680.0, 1450.0),
    ]
    found = repeats.pair_samples(steps, reference=None, service_cores=1)
    assert found.capacity_level_rps == 1680.0
    assert sorted(found.capacity_rps) == [1400.0, 1450.0, 1800.0]
    assert found.capacity_reached


def test_a_row_never_overloaded_gives_a_bound() -> None:
    steps = [
        step_at(
            repeat=r, offered_rps=5000.0, throughput_rps=4990.0, overloaded=False, saturated=False
        )
        for r in (1, 2)
    ]
    found = repeats.pair_samples(steps, reference=None, service_cores=1)
    assert not found.capacity_reached
    assert found.capacity_rps == [4990.0, 4990.0]
